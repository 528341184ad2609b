"""The heap plan: from the Node container's memory to `--max-old-space-size` and `--max-semi-space-size`.

A Node-aware model, not a flat ratio. Per container, keep back what is not heap:

    memory = binary (once) + headroom + reserve
             + processes x (isolate base + young generation + heap x (1 + overhead ratio))

and give each isolate the largest old space that satisfies it. Constants per Node line and their
evidence are in sidecar/sizing/node_profile.py. The young generation is 3 x semi-space (two
semi-spaces and the new large-object space), and the semi-space is set explicitly, chosen by
`YoungRule` (NODE_HEAP_SEMI_SPACE):
- `node`: what this Node line picks by itself in a container of this memory (never fewer
  scavenges than Node's default);
- `speed` (the default): the larger of that and 3/55 of the isolate's budget, at most 64 MiB (a
  16 MiB semi-space from a 1 GiB task, 32 from 2 GiB): fewer scavenges and less GC time for a
  few percent of old space (bench/service.py, README "Young generation: speed and memory");
- `memory`: 0.1.0's rule, 3/128 of the budget, at most 16 MiB (Node 20's ratio on its own old
  space): below Node's own on Node 24 and 26, so more old space there;
- a number of MiB: that semi-space (V8 rounds it up to a power of two).
The young-generation allowance is a continuous function of the isolate's budget that grows by
at most 1 MiB per MiB, so the old space never shrinks as memory grows; the semi-space is the
largest power of two whose 3 x fits in it. Node's own choice doubles just above 512, 1024 and
2048 MiB, so just above those sizes the allowance climbs to it over 1.5 x semi-space MiB of
budget. The allowance never takes more than a quarter of the isolate's budget.
Pure: no I/O, so it is tested exhaustively (tests/test_plan.py, with hypothesis).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from sidecar.notices import Notice, Severity
from sidecar.sizing.node_profile import NodeProfile, node_band_start_mib, node_own_semi_space_mib
from sidecar.sizing.nodeopts import HeapPins
from sidecar.text import plural

MAX_PLANNED_MEMORY_MIB = 1 << 24  # 16 TiB: where the search for a big-enough container stops
YOUNG_PER_OLD = 3 / 128  # `memory`: young allowance = 3 x (budget / 128), Node 20's semi-space rule
MIN_SEMI_SPACE_MIB = 1
MEMORY_RULE_MAX_SEMI_SPACE_MIB = 16  # `memory`: Node <= 22's cap
SPEED_YOUNG_SHARE = Fraction(3, 55)  # `speed`: 3/55 of the budget, a 16 MiB semi-space from a 1 GiB task
SPEED_MAX_SEMI_SPACE_MIB = 64  # `speed`: the benchmark's largest useful semi-space (and Node 24's cap)
MAX_YOUNG_SHARE = 4  # the allowance never takes more than budget / 4


class YoungRule(enum.Enum):
    """How the semi-space is chosen when the app does not set it (NODE_HEAP_SEMI_SPACE)."""

    SPEED = "speed"
    NODE = "node"
    MEMORY = "memory"


@dataclass(frozen=True, slots=True)
class Component:
    """Memory kept back from the heap, in MiB, and where the figure comes from."""

    name: str
    mib: int
    origin: str


@dataclass(frozen=True, slots=True)
class Knobs:
    """The user's part of the plan (from Settings)."""

    processes: int = 1
    reserve_mib: int = 0
    headroom_ratio: float = 0.1
    ratio: float | None = None
    min_mib: int = 32
    max_mib: int | None = None
    semi_space: YoungRule | int = YoungRule.SPEED  # a rule, or a semi-space in MiB
    fixed: tuple[Component, ...] = ()  # memory the container's files hold (tmpfs, /dev/shm), kept back once


@dataclass(frozen=True, slots=True)
class HeapPlan:
    memory_mib: int
    processes: int
    heap_mib: int | None  # old space per isolate that Node will use (ours or the app's); None: unknown
    fit_mib: int  # the largest old space per isolate that fits
    semi_space_mib: int | None  # semi-space Node will use; None: V8's own choice
    young_mib: int  # young-generation allowance per isolate
    semi_space_rule: str  # how the semi-space was chosen, and what Node would pick by itself
    node_semi_space_mib: int  # the semi-space this Node line picks by itself in this memory
    components: tuple[Component, ...]  # everything kept back from the heap
    binding: str  # the rule that set heap_mib
    flags: tuple[str, ...]  # what the sidecar adds to NODE_OPTIONS
    too_small: bool
    smallest_memory_mib: int | None  # when too small: the smallest memory where the plan fits
    warnings: tuple[Notice, ...]
    profile: NodeProfile
    pin_does_not_fit: bool = False  # the app's own heap flag gives more old space than fits

    @property
    def kept_back_mib(self) -> int:
        return sum(c.mib for c in self.components)


@dataclass(frozen=True, slots=True)
class _Fit:
    old_mib: int
    semi_mib: int | None
    young_mib: int
    components: tuple[Component, ...]
    semi_rule: str


def _exact(ratio: float) -> Fraction:
    """A ratio as the decimal the user wrote (0.1 is 1/10, not 0.1000000000000000055...)."""
    return Fraction(repr(ratio))


def _ceil_share(mib: int, ratio: float) -> int:
    return math.ceil(mib * _exact(ratio))


def young_allowance(per_isolate_mib: int) -> tuple[int, int]:
    """`memory`: (semi-space, young allowance) in MiB for one isolate's budget.

    The allowance, 3/128 of the budget clamped to 3..48 MiB, grows by at most 1 MiB per MiB of
    budget, so the heap never shrinks as memory grows. The semi-space is the largest power of two
    whose young generation (3 x) fits in the allowance: V8 rounds semi-spaces up to a power of two,
    so only those are exact.
    """
    allowance = min(
        max(math.ceil(per_isolate_mib * YOUNG_PER_OLD), 3 * MIN_SEMI_SPACE_MIB), 3 * MEMORY_RULE_MAX_SEMI_SPACE_MIB
    )
    return _semi_in(allowance), allowance


def _semi_in(allowance_mib: int) -> int:
    """The largest power-of-two semi-space whose young generation (3 x) fits in the allowance (>= 1)."""
    return 1 << int(math.log2(max(allowance_mib, 3) // 3))


def node_allowance(per_isolate_mib: int, band_budgets: dict[int, int]) -> int:
    """`node`: the young allowance that reaches 3 x Node's own semi-space s once the budget is past
    the band where Node starts to pick s (`band_budgets`: s -> the isolate budget there).

    Each band contributes a ramp of slope 1 from 1.5 x s (3 x the half-size semi-space) at the
    band's start to 3 x s; the maximum of such ramps is continuous and grows by at most 1 MiB per
    MiB of budget.
    """
    allowance = 3 * MIN_SEMI_SPACE_MIB
    for semi, start in band_budgets.items():
        ramp = math.floor(Fraction(3 * semi, 2)) + (per_isolate_mib - start)
        allowance = max(allowance, min(3 * semi, ramp))
    return allowance


def speed_allowance(per_isolate_mib: int) -> int:
    """`speed`'s own share: 3/55 of the budget, at most 3 x 64 MiB (continuous, slope < 1)."""
    return min(math.ceil(per_isolate_mib * SPEED_YOUNG_SHARE), 3 * SPEED_MAX_SEMI_SPACE_MIB)


def _band_budgets(budget_of: Callable[[int], int], profile: NodeProfile) -> dict[int, int]:
    """For each semi-space s > 1 MiB Node picks by itself: the isolate budget where its band starts."""
    bands: dict[int, int] = {}
    semi = 2
    while (start := node_band_start_mib(profile, semi)) is not None:
        bands[semi] = budget_of(start)
        semi *= 2
    return bands


def _largest_old(room_mib: int, overhead_ratio: float) -> int:
    """The largest old space h with h + ceil(h x overhead) <= room (may be <= 0)."""
    old = math.floor(room_mib / (1 + _exact(overhead_ratio)))
    while old > 0 and old + _ceil_share(old, overhead_ratio) > room_mib:
        old -= 1
    while old + 1 + _ceil_share(old + 1, overhead_ratio) <= room_mib:
        old += 1
    return old


def _rounded_semi(mib: int) -> int:
    return 1 << max(0, math.ceil(math.log2(mib)))  # V8 rounds a semi-space up to a power of two


def _young(
    memory_mib: int, knobs: Knobs, profile: NodeProfile, pinned_semi_mib: int | None, budget_of: Callable[[int], int]
) -> tuple[int | None, int, str, str]:
    """(semi-space or None for V8's own, young allowance, component origin, rule) for one isolate."""
    per_isolate = budget_of(memory_mib)
    own = node_own_semi_space_mib(profile, memory_mib)
    node_says = f"{profile.label} picks {own} MiB by itself in {memory_mib} MiB"
    if pinned_semi_mib is not None:
        rounded = _rounded_semi(pinned_semi_mib)
        origin = f"3 x the app's --max-semi-space-size={pinned_semi_mib} (V8 rounds it to {rounded})"
        return rounded, 3 * rounded, origin, f"the app's own --max-semi-space-size={pinned_semi_mib}; {node_says}"
    if not profile.semi_space_flag_ok:
        cap = profile.default_max_semi_space_mib
        return None, 3 * cap, f"3 x V8's default semi-space cap {cap} MiB ({profile.label})", "V8's own (no flag)"
    rule = knobs.semi_space
    if isinstance(rule, int):
        rounded = _rounded_semi(rule)
        origin = f"3 x NODE_HEAP_SEMI_SPACE={rule} (V8 rounds it to {rounded})"
        return rounded, 3 * rounded, origin, f"NODE_HEAP_SEMI_SPACE={rule}; {node_says}"
    if rule is YoungRule.MEMORY:
        semi, allowance = young_allowance(per_isolate)
        why = "memory-first: 3/128 of the budget, 3..48 MiB"
    else:
        allowance = node_allowance(per_isolate, _band_budgets(budget_of, profile))
        why = "Node's own semi-space"
        if rule is YoungRule.SPEED and speed_allowance(per_isolate) > allowance:
            allowance, why = speed_allowance(per_isolate), "speed-first: 3/55 of the budget, at most 3 x 64 MiB"
        elif rule is YoungRule.SPEED:
            why = "speed-first: Node's own semi-space (more than 3/55 of the budget)"
        cap = max(per_isolate // MAX_YOUNG_SHARE, 3 * MIN_SEMI_SPACE_MIB)
        if allowance > cap:
            allowance, why = cap, f"{why}, limited to a quarter of the budget"
        elif _semi_in(allowance) < own:
            start = node_band_start_mib(profile, own)
            why = f"{why}, climbing to Node's {own} MiB from {start} MiB (so the old space never shrinks)"
        semi = _semi_in(allowance)
    origin = f"{why}; semi-space {semi} MiB uses {3 * semi}"
    return semi, allowance, origin, f"NODE_HEAP_SEMI_SPACE={rule.value}: {why}; {node_says}"


def _fit(memory_mib: int, knobs: Knobs, profile: NodeProfile, pinned_semi_mib: int | None) -> _Fit:
    n = knobs.processes
    headroom = _ceil_share(memory_mib, knobs.headroom_ratio)
    files = sum(component.mib for component in knobs.fixed)
    shared = profile.binary_resident_mib + headroom + knobs.reserve_mib + files
    per_isolate = (memory_mib - shared) // n

    def budget_of(memory: int) -> int:
        kept = profile.binary_resident_mib + _ceil_share(memory, knobs.headroom_ratio) + knobs.reserve_mib + files
        return (memory - kept) // n

    semi, young, young_origin, semi_rule = _young(memory_mib, knobs, profile, pinned_semi_mib, budget_of)
    old = _largest_old(per_isolate - profile.isolate_base_mib - young, profile.heap_overhead_ratio)
    overhead = _ceil_share(max(old, 0), profile.heap_overhead_ratio)
    components = (
        Component("node binary, resident once", profile.binary_resident_mib, f"{profile.label}: {profile.evidence}"),
        Component("headroom for off-heap memory", headroom, f"NODE_HEAP_HEADROOM_RATIO={knobs.headroom_ratio:g}"),
        Component("app reserve", knobs.reserve_mib, "NODE_HEAP_RESERVE_MIB"),
        *knobs.fixed,
        Component(f"isolate base x {n}", n * profile.isolate_base_mib, f"{profile.label}: {profile.evidence}"),
        Component(f"young generation x {n}", n * young, young_origin),
        Component(
            f"V8 heap overhead x {n}",
            n * overhead,
            f"{profile.heap_overhead_ratio:.0%} of old space ({profile.label})",
        ),
        Component("rounding", (memory_mib - shared) - n * per_isolate, f"budget split over {plural(n, 'isolate')}"),
    )
    return _Fit(old, semi, young, components, semi_rule)


def plan_heap(
    memory_mib: int,
    knobs: Knobs,
    profile: NodeProfile,
    pins: HeapPins | None = None,
    *,
    percent_base_mib: int | None = None,
) -> HeapPlan:
    """Plan the heap for `memory_mib` of container memory.

    `pins` are heap flags the app set itself: they are respected and checked. `percent_base_mib`
    is the memory Node itself would see, to resolve an app's --max-old-space-size-percentage.
    """
    pins = pins or HeapPins()
    fit = _fit(memory_mib, knobs, profile, pins.semi_space_mib)
    warnings: list[Notice] = []
    flags: list[str] = []

    heap, binding = fit.old_mib, "largest old space that fits"
    caps = []
    if knobs.ratio is not None:
        caps.append((math.floor(memory_mib * knobs.ratio / knobs.processes), f"NODE_HEAP_RATIO={knobs.ratio:g}"))
    if knobs.max_mib is not None:
        caps.append((knobs.max_mib, f"NODE_HEAP_MAX_MIB={knobs.max_mib}"))
    for value, rule in caps:
        if value < heap:
            heap, binding = value, rule
    if heap < knobs.min_mib <= fit.old_mib:
        heap, binding = knobs.min_mib, f"NODE_HEAP_MIN_MIB={knobs.min_mib} (a cap was lower)"

    too_small = fit.old_mib < knobs.min_mib
    smallest = _smallest_memory(memory_mib, knobs, profile, pins) if too_small else None
    if too_small:
        heap = fit.old_mib
        binding = "container too small: largest old space that fits"
        warnings.append(
            Notice(
                "container_too_small",
                f"container too small: {memory_mib} MiB leaves {fit.old_mib} MiB of old space per isolate, "
                f"below NODE_HEAP_MIN_MIB={knobs.min_mib}; the smallest memory that fits is {smallest} MiB",
                Severity.CRITICAL,
            )
        )

    final_heap: int | None = heap
    pin_does_not_fit = False
    if pins.pins_old_space:
        final_heap, binding = _pinned_heap(pins, percent_base_mib)
        if final_heap is None:
            warnings.append(
                Notice(
                    "heap_pin_unchecked",
                    f"the app's {pins.text} cannot be checked: the memory Node will see is unknown",
                    Severity.INFO,
                )
            )
        elif final_heap > fit.old_mib:
            pin_does_not_fit = True
            warnings.append(
                Notice(
                    "heap_pin_does_not_fit",
                    f"the app's {pins.text} gives {final_heap} MiB of old space, more than the "
                    f"{fit.old_mib} MiB that fit in {memory_mib} MiB: the kernel may kill Node; "
                    "remove it to let the sidecar size the heap",
                )
            )
    else:
        if heap < profile.min_start_old_mib:
            # Below it Node aborts or segfaults during start-up, and without a flag it takes a heap of
            # 256 MiB or more: the smallest heap it starts with is the least harmful figure left.
            warnings.append(
                Notice(
                    "no_heap_fits",
                    f"only {max(heap, 0)} MiB of old space fits in {memory_mib} MiB, below the "
                    f"{profile.min_start_old_mib} MiB {profile.label} needs to start: the env file sets "
                    f"{profile.min_start_old_mib} MiB, more than fits, so the kernel may kill Node; give the "
                    "container more memory",
                    Severity.CRITICAL,
                )
            )
            heap = final_heap = profile.min_start_old_mib
            binding = f"the smallest old space {profile.label} starts with (less fits)"
        flags.append(f"--max-old-space-size={heap}")
    if fit.semi_mib is not None and pins.semi_space_mib is None and (flags or pins.pins_old_space):
        flags.append(f"--max-semi-space-size={fit.semi_mib}")

    return HeapPlan(
        memory_mib=memory_mib,
        processes=knobs.processes,
        heap_mib=final_heap,
        fit_mib=fit.old_mib,
        semi_space_mib=fit.semi_mib,
        young_mib=fit.young_mib,
        semi_space_rule=fit.semi_rule,
        node_semi_space_mib=node_own_semi_space_mib(profile, memory_mib),
        components=fit.components,
        binding=binding,
        flags=tuple(flags),
        too_small=too_small,
        smallest_memory_mib=smallest,
        warnings=tuple(warnings),
        profile=profile,
        pin_does_not_fit=pin_does_not_fit,
    )


def _pinned_heap(pins: HeapPins, percent_base_mib: int | None) -> tuple[int | None, str]:
    if pins.old_space_mib is not None:
        return pins.old_space_mib, f"the app's own --max-old-space-size={pins.old_space_mib} (respected)"
    assert pins.old_space_percent is not None
    rule = f"the app's own --max-old-space-size-percentage={pins.old_space_percent:g} (respected)"
    if percent_base_mib is None:
        return None, rule
    # Node: floor(memory in MiB * percent / 100) (nodejs/node test-max-old-space-size-percentage.js)
    return math.floor(percent_base_mib * pins.old_space_percent / 100), rule


def _smallest_memory(memory_mib: int, knobs: Knobs, profile: NodeProfile, pins: HeapPins) -> int | None:
    """The smallest memory whose fit reaches NODE_HEAP_MIN_MIB (the fit grows with memory)."""
    low, high = memory_mib, MAX_PLANNED_MEMORY_MIB
    if _fit(high, knobs, profile, pins.semi_space_mib).old_mib < knobs.min_mib:
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if _fit(middle, knobs, profile, pins.semi_space_mib).old_mib >= knobs.min_mib:
            high = middle
        else:
            low = middle
    return high
