"""The heap plan: literal cases worked out by hand, then properties over every input (hypothesis)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.notices import Notice, Severity
from sidecar.sizing.node_profile import CONSERVATIVE, NodeProfile, node_own_semi_space_mib, profile_for
from sidecar.sizing.nodeopts import HeapPins
from sidecar.sizing.plan import Component, Knobs, YoungRule, plan_heap, young_allowance

NODE22 = profile_for((22, None))  # binary 40 MiB, isolate base 12 MiB, overhead 5 %
NODE18 = profile_for((18, None))  # cannot take --max-semi-space-size; V8's own cap 16 MiB
NODE24 = profile_for((24, None))  # binary 38 MiB, base 12 MiB, overhead 7 %; own semi-space = (M/2)/32
NODE26 = profile_for((26, None))
MEMORY, NODE, SPEED = YoungRule.MEMORY, YoungRule.NODE, YoungRule.SPEED


class TestYoungAllowance:
    def test_small_budget_gets_the_minimum(self) -> None:
        """3/128 of 100 MiB rounds up to 3 MiB: semi-space 1 MiB."""
        assert young_allowance(100) == (1, 3)

    def test_allowance_between_powers_of_two(self) -> None:
        """881 MiB: ceil(20.6) = 21 MiB of allowance; the largest semi-space with 3 x s <= 21 is 4."""
        assert young_allowance(881) == (4, 21)

    def test_exact_power_of_two(self) -> None:
        """1024 MiB: 24 MiB of allowance holds a semi-space of 8 MiB exactly."""
        assert young_allowance(1024) == (8, 24)

    def test_capped_at_48(self) -> None:
        """From 2048 MiB the allowance stays at 48 MiB (semi-space 16 MiB, Node <= 22's cap)."""
        assert young_allowance(2048) == (16, 48)
        assert young_allowance(100_000) == (16, 48)


class TestPlanHeap:
    """The plan's arithmetic, with the memory-first young generation of 0.1.0 (NODE_HEAP_SEMI_SPACE=memory)."""

    def test_one_gib_node22(self) -> None:
        """1024 MiB: 103 headroom + 40 binary leave 881; 881 - 12 - 21 = 848 = 807 + ceil(5 % of 807)."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY), NODE22)
        assert plan.flags == ("--max-old-space-size=807", "--max-semi-space-size=4")
        assert (plan.heap_mib, plan.fit_mib, plan.semi_space_mib, plan.young_mib) == (807, 807, 4, 21)
        assert plan.components == (
            Component("node binary, resident once", 40, "Node 22: measured on 22.23.3"),
            Component("headroom for off-heap memory", 103, "NODE_HEAP_HEADROOM_RATIO=0.1"),
            Component("app reserve", 0, "NODE_HEAP_RESERVE_MIB"),
            Component("isolate base x 1", 12, "Node 22: measured on 22.23.3"),
            Component(
                "young generation x 1", 21, "memory-first: 3/128 of the budget, 3..48 MiB; semi-space 4 MiB uses 12"
            ),
            Component("V8 heap overhead x 1", 41, "5% of old space (Node 22)"),
            Component("rounding", 0, "budget split over 1 isolate"),
        )
        assert plan.binding == "largest old space that fits"
        assert not plan.too_small
        assert plan.warnings == ()

    def test_128_mib(self) -> None:
        """128 MiB: 13 headroom + 40 binary leave 75; 75 - 12 - 3 = 60 = 57 + ceil(2.85)."""
        plan = plan_heap(128, Knobs(semi_space=MEMORY), NODE22)
        assert plan.flags == ("--max-old-space-size=57", "--max-semi-space-size=1")

    def test_four_processes_share_the_budget(self) -> None:
        """4 isolates in 1024 MiB: (1024 - 103 - 40) // 4 = 220 each; 220 - 12 - 6 = 202 = 188 + ceil(13.16)."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY, processes=4), CONSERVATIVE)
        assert plan.flags == ("--max-old-space-size=188", "--max-semi-space-size=2")
        assert [(c.name, c.mib) for c in plan.components] == [
            ("node binary, resident once", 40),
            ("headroom for off-heap memory", 103),
            ("app reserve", 0),
            ("isolate base x 4", 48),
            ("young generation x 4", 24),
            ("V8 heap overhead x 4", 56),
            ("rounding", 1),
        ]

    def test_reserve_comes_off_the_top(self) -> None:
        """A 200 MiB reserve: 1024 - 103 - 40 - 200 = 681; 681 - 12 - 16 = 653 = 621 + ceil(31.05)."""
        assert plan_heap(1024, Knobs(semi_space=MEMORY, reserve_mib=200), NODE22).heap_mib == 621

    def test_no_headroom(self) -> None:
        """Headroom 0: 1024 - 40 = 984; young 24 (semi 8); 984 - 12 - 24 = 948 = 902 + ceil(45.1)."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY, headroom_ratio=0.0), NODE22)
        assert plan.flags == ("--max-old-space-size=902", "--max-semi-space-size=8")

    def test_ratio_caps(self) -> None:
        """NODE_HEAP_RATIO=0.5 caps the heap at 512 MiB of 1024."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY, ratio=0.5), NODE22)
        assert (plan.heap_mib, plan.binding) == (512, "NODE_HEAP_RATIO=0.5")

    def test_max_caps(self) -> None:
        """NODE_HEAP_MAX_MIB=600 caps the heap at 600 MiB."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY, max_mib=600), NODE22)
        assert (plan.heap_mib, plan.binding) == (600, "NODE_HEAP_MAX_MIB=600")

    def test_min_lifts_a_cap_but_not_past_the_fit(self) -> None:
        """A ratio cap of 10 MiB is lifted to NODE_HEAP_MIN_MIB=32, which fits."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY, ratio=0.01), NODE22)
        assert (plan.heap_mib, plan.binding) == (32, "NODE_HEAP_MIN_MIB=32 (a cap was lower)")

    def test_too_small(self) -> None:
        """64 MiB: 64 - 7 - 40 = 17; 17 - 12 - 3 = 2 = 1 + ceil(0.05): 1 MiB, below the 10 MiB Node 22 needs to
        start (Node 20 exits 133 with `--max-old-space-size=1`), so the flag is raised to 10 and the warning says
        so; 99 MiB is the smallest memory that reaches 32."""
        plan = plan_heap(64, Knobs(), NODE22)
        assert plan.too_small
        assert (plan.fit_mib, plan.heap_mib, plan.smallest_memory_mib, plan.flags) == (
            1,
            10,
            99,
            ("--max-old-space-size=10", "--max-semi-space-size=1"),
        )
        assert plan.warnings == (
            Notice(
                "container_too_small",
                "container too small: 64 MiB leaves 1 MiB of old space per isolate, below NODE_HEAP_MIN_MIB=32; "
                "the smallest memory that fits is 99 MiB",
                Severity.CRITICAL,
            ),
            Notice(
                "no_heap_fits",
                "only 1 MiB of old space fits in 64 MiB, below the 10 MiB Node 22 needs to start: the env file sets "
                "10 MiB, more than fits, so the kernel may kill Node; give the container more memory",
                Severity.CRITICAL,
            ),
        )

    def test_too_small_but_startable(self) -> None:
        """80 MiB: 80 - 8 - 40 = 32; 32 - 12 - 3 = 17 = 16 + ceil(0.8): 16 MiB is below NODE_HEAP_MIN_MIB but Node 22
        starts with it (>= 12), so it is written, with the too-small warning."""
        plan = plan_heap(80, Knobs(), NODE22)
        assert (plan.too_small, plan.heap_mib, plan.flags) == (
            True,
            16,
            ("--max-old-space-size=16", "--max-semi-space-size=1"),
        )

    def test_nothing_fits(self) -> None:
        """48 MiB cannot even hold Node's binary and base: the smallest heap Node 22 starts with, both warnings."""
        plan = plan_heap(48, Knobs(semi_space=MEMORY), NODE22)
        assert (plan.heap_mib, plan.flags) == (10, ("--max-old-space-size=10", "--max-semi-space-size=1"))
        assert [n.code for n in plan.warnings] == ["container_too_small", "no_heap_fits"]

    def test_app_pin_that_does_not_fit(self) -> None:
        """The app's 900 MiB is respected, only the semi-space is added, and the overshoot is reported."""
        pins = HeapPins(old_space_mib=900, text="--max-old-space-size=900")
        plan = plan_heap(1024, Knobs(semi_space=MEMORY), NODE22, pins)
        assert plan.flags == ("--max-semi-space-size=4",)
        assert (plan.heap_mib, plan.binding, plan.pin_does_not_fit) == (
            900,
            "the app's own --max-old-space-size=900 (respected)",
            True,
        )
        assert plan.warnings == (
            Notice(
                "heap_pin_does_not_fit",
                "the app's --max-old-space-size=900 gives 900 MiB of old space, more than the 807 MiB that fit "
                "in 1024 MiB: the kernel may kill Node; remove it to let the sidecar size the heap",
            ),
        )

    def test_app_percentage_pin(self) -> None:
        """75 % of the 1024 MiB Node will see is 768 MiB, which fits: no warning."""
        pins = HeapPins(old_space_percent=75.0, text="--max-old-space-size-percentage=75")
        plan = plan_heap(1024, Knobs(semi_space=MEMORY), NODE22, pins, percent_base_mib=1024)
        assert (plan.heap_mib, plan.warnings) == (768, ())

    def test_app_percentage_pin_of_the_whole_machine(self) -> None:
        """75 % of a 16 GiB machine (a container without its own limit) is far more than fits."""
        pins = HeapPins(old_space_percent=75.0, text="--max-old-space-size-percentage=75")
        plan = plan_heap(1024, Knobs(semi_space=MEMORY), NODE22, pins, percent_base_mib=16384)
        assert plan.heap_mib == 12288
        assert [n.code for n in plan.warnings] == ["heap_pin_does_not_fit"]

    def test_app_percentage_pin_unknown_base(self) -> None:
        """Without knowing what Node will see, the percentage cannot be checked."""
        pins = HeapPins(old_space_percent=50.0, text="--max-old-space-size-percentage=50")
        plan = plan_heap(1024, Knobs(semi_space=MEMORY), NODE22, pins)
        assert plan.heap_mib is None
        assert [n.code for n in plan.warnings] == ["heap_pin_unchecked"]

    def test_app_semi_space_pin(self) -> None:
        """The app's 16 MiB semi-space costs 48 MiB: 881 - 12 - 48 = 821 = 781 + ceil(39.05); no semi flag added."""
        plan = plan_heap(
            1024, Knobs(semi_space=MEMORY), NODE22, HeapPins(semi_space_mib=16, text="--max-semi-space-size=16")
        )
        assert plan.flags == ("--max-old-space-size=781",)
        assert plan.semi_space_mib == 16

    def test_app_semi_space_pin_rounded_up(self) -> None:
        """V8 rounds a 3 MiB semi-space up to 4 MiB, so the plan counts 12 MiB of young generation."""
        plan = plan_heap(
            1024, Knobs(semi_space=MEMORY), NODE22, HeapPins(semi_space_mib=3, text="--max-semi-space-size=3")
        )
        assert (plan.semi_space_mib, plan.young_mib) == (4, 12)

    def test_node_18_cannot_take_the_semi_space_flag(self) -> None:
        """Node 18: V8's own 16 MiB semi-space cap counts (48 MiB); 881 - 12 - 48 = 821 = 767 + ceil(53.69)."""
        plan = plan_heap(1024, Knobs(semi_space=MEMORY), NODE18)
        assert plan.flags == ("--max-old-space-size=767",)
        assert plan.semi_space_mib is None


class TestYoungGenerationRules:
    """NODE_HEAP_SEMI_SPACE: Node's own semi-space as a floor, speed-first above it, or a fixed size."""

    def test_speed_is_the_default(self) -> None:
        """Node 22, 1 GiB: budget 881; 3/55 of it is ceil(48.05) = 49 MiB, above Node's own 4 MiB
        (12): semi-space 16; 881 - 12 - 49 = 820 = 780 + ceil(5 % of 780)."""
        plan = plan_heap(1024, Knobs(), NODE22)
        assert plan.flags == ("--max-old-space-size=780", "--max-semi-space-size=16")
        assert (plan.young_mib, plan.node_semi_space_mib) == (49, 4)
        assert plan.semi_space_rule == (
            "NODE_HEAP_SEMI_SPACE=speed: speed-first: 3/55 of the budget, at most 3 x 64 MiB; "
            "Node 22 picks 4 MiB by itself in 1024 MiB"
        )

    def test_between_powers_of_two(self) -> None:
        """The README's log-router example, Node 22 with 924 MiB: budget 924 - 40 - ceil(92.4) = 791;
        3/55 of it is ceil(43.15) = 44 MiB, room for a semi-space of 8 (uses 24; 16 would take 48);
        791 - 12 - 44 = 735 = 700 + ceil(5 % of 700)."""
        plan = plan_heap(924, Knobs(), NODE22)
        assert plan.flags == ("--max-old-space-size=700", "--max-semi-space-size=8")
        assert plan.young_mib == 44

    def test_node_rule_takes_nodes_own_semi_space(self) -> None:
        """Node 24, 1 GiB: Node picks 16 MiB itself (512 / 32); budget 883 - 12 - 48 = 823 = 769 + ceil(7 % of 769)."""
        plan = plan_heap(1024, Knobs(semi_space=NODE), NODE24)
        assert plan.flags == ("--max-old-space-size=769", "--max-semi-space-size=16")
        assert plan.young_mib == 48

    def test_speed_on_node24_one_gib(self) -> None:
        """Node 24, 1 GiB: 3/55 of 883 is 49 MiB, just above Node's 48: the same 16 MiB;
        883 - 12 - 49 = 822 = 768 + 54."""
        plan = plan_heap(1024, Knobs(), NODE24)
        assert plan.flags == ("--max-old-space-size=768", "--max-semi-space-size=16")

    def test_speed_on_node24_two_gib(self) -> None:
        """Node 24, 2 GiB: budget 1805, 3/55 is ceil(98.45) = 99 (semi-space 32); 1805 - 12 - 99 = 1694 = 1583 + 111."""
        plan = plan_heap(2048, Knobs(), NODE24)
        assert plan.flags == ("--max-old-space-size=1583", "--max-semi-space-size=32")

    def test_node_rule_on_node26_512_mib(self) -> None:
        """Node 26 picks 4 MiB in 512 MiB (256 / 64); 420 - 12 - 12 = 396 = 370 + 26."""
        plan = plan_heap(512, Knobs(semi_space=NODE), NODE26)
        assert plan.flags == ("--max-old-space-size=370", "--max-semi-space-size=4")

    def test_just_above_a_band_the_allowance_climbs(self) -> None:
        """Node 24 picks 32 MiB from 1025 MiB; at 1050 (budget 907, 23 MiB past the band's 884) the
        allowance is 48 + 23 = 71: still a 16 MiB semi-space, and the old space does not drop."""
        plan = plan_heap(1050, Knobs(semi_space=NODE), NODE24)
        assert (plan.semi_space_mib, plan.young_mib, plan.node_semi_space_mib) == (16, 71, 32)
        assert plan.semi_space_rule == (
            "NODE_HEAP_SEMI_SPACE=node: Node's own semi-space, climbing to Node's 32 MiB from 1025 MiB (so the old "
            "space never shrinks); Node 24 picks 32 MiB by itself in 1050 MiB"
        )
        assert plan.heap_mib == 770  # 907 - 12 - 71 = 824 = 770 + 54
        assert plan_heap(1024, Knobs(semi_space=NODE), NODE24).heap_mib == 769

    def test_quarter_of_the_budget_at_most(self) -> None:
        """16 isolates in 1025 MiB get 55 MiB each; Node's own 32 MiB would take 96: the allowance
        stops at 55 // 4 = 13 (semi-space 4); 55 - 12 - 13 = 30 = 28 + 2."""
        plan = plan_heap(1025, Knobs(processes=16, semi_space=NODE), NODE24)
        assert plan.flags == ("--max-old-space-size=28", "--max-semi-space-size=4")
        assert plan.semi_space_rule.startswith("NODE_HEAP_SEMI_SPACE=node: Node's own semi-space, limited to a quarter")

    def test_fixed_semi_space_is_rounded_up(self) -> None:
        """NODE_HEAP_SEMI_SPACE=48 is 64 MiB to V8 (192 of young generation); 881 - 12 - 192 = 677 = 644 + 33."""
        plan = plan_heap(1024, Knobs(semi_space=48), NODE22)
        assert plan.flags == ("--max-old-space-size=644", "--max-semi-space-size=64")
        assert plan.young_mib == 192

    def test_the_apps_own_semi_space_wins_over_the_setting(self) -> None:
        """An app's --max-semi-space-size is respected whatever NODE_HEAP_SEMI_SPACE says."""
        pins = HeapPins(semi_space_mib=8, text="--max-semi-space-size=8")
        plan = plan_heap(1024, Knobs(semi_space=64), NODE22, pins)
        assert (plan.semi_space_mib, plan.flags) == (8, ("--max-old-space-size=804",))  # 881 - 12 - 24 = 845 = 804 + 41


profiles = st.sampled_from([NODE22, NODE18, CONSERVATIVE, NODE24, NODE26, profile_for((20, 11))])
knobs = st.builds(
    Knobs,
    processes=st.integers(1, 16),
    reserve_mib=st.integers(0, 2048),
    headroom_ratio=st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 0.99]),
    ratio=st.one_of(st.none(), st.sampled_from([0.25, 0.5, 0.75, 0.9, 1.0])),
    min_mib=st.integers(1, 256),
    max_mib=st.one_of(st.none(), st.integers(256, 65536)),
    semi_space=st.sampled_from([SPEED, NODE, MEMORY, 1, 3, 16, 64, 1024]),
)


def _needed_mib(plan_memory: int, knobs: Knobs, profile: NodeProfile, heap: int, semi: int | None) -> int:
    """What the model says `heap` costs, recomputed from its definition (not from the plan's components)."""
    young = 3 * semi if semi is not None else 3 * profile.default_max_semi_space_mib
    overhead = math.ceil(heap * profile.heap_overhead_ratio - 1e-9)
    headroom = math.ceil(plan_memory * knobs.headroom_ratio - 1e-9)
    per_isolate = profile.isolate_base_mib + young + heap + overhead
    return profile.binary_resident_mib + headroom + knobs.reserve_mib + knobs.processes * per_isolate


class TestPlanProperties:
    @settings(max_examples=400, deadline=None)
    @given(memory=st.integers(1, 1 << 20), extra=st.integers(1, 4096), knobs=knobs, profile=profiles)
    def test_heap_never_decreases_as_memory_grows(
        self, memory: int, extra: int, knobs: Knobs, profile: NodeProfile
    ) -> None:
        """More memory never gives a smaller heap."""
        small, large = plan_heap(memory, knobs, profile), plan_heap(memory + extra, knobs, profile)
        assert large.fit_mib >= small.fit_mib
        if small.heap_mib is not None:
            assert large.heap_mib is not None
            assert large.heap_mib >= small.heap_mib

    @settings(max_examples=400, deadline=None)
    @given(memory=st.integers(1, 1 << 20), knobs=knobs, profile=profiles)
    def test_heap_and_everything_kept_back_fit(self, memory: int, knobs: Knobs, profile: NodeProfile) -> None:
        """Whatever heap the plan sets, it and everything the model keeps back fit in the memory, unless the plan
        said it raised the heap to the smallest one Node starts with."""
        plan = plan_heap(memory, knobs, profile)
        if plan.heap_mib is None:
            assert plan.flags == ()
            return
        if "no_heap_fits" in [n.code for n in plan.warnings]:
            assert plan.heap_mib == profile.min_start_old_mib
            assert plan.fit_mib < profile.min_start_old_mib
            return
        assert _needed_mib(memory, knobs, profile, plan.heap_mib, plan.semi_space_mib) <= memory
        assert plan.kept_back_mib + knobs.processes * plan.heap_mib <= memory

    @settings(max_examples=200, deadline=None)
    @given(memory=st.integers(1, 1 << 16), knobs=knobs, profile=profiles)
    def test_smallest_memory_is_the_boundary(self, memory: int, knobs: Knobs, profile: NodeProfile) -> None:
        """When too small, the suggested memory fits and one MiB less does not."""
        plan = plan_heap(memory, knobs, profile)
        if not plan.too_small or plan.smallest_memory_mib is None:
            return
        assert not plan_heap(plan.smallest_memory_mib, knobs, profile).too_small
        assert plan_heap(plan.smallest_memory_mib - 1, knobs, profile).too_small

    @settings(max_examples=200, deadline=None)
    @given(memory=st.integers(1, 1 << 20), knobs=knobs, profile=profiles)
    def test_same_inputs_same_plan(self, memory: int, knobs: Knobs, profile: NodeProfile) -> None:
        """The plan is a function of its inputs."""
        assert plan_heap(memory, knobs, profile) == plan_heap(memory, knobs, profile)


class TestYoungGenerationProperties:
    @settings(max_examples=400, deadline=None)
    @given(memory=st.integers(256, 1 << 16), profile=st.sampled_from([NODE22, NODE24, NODE26, CONSERVATIVE]))
    def test_never_below_nodes_own_outside_a_bands_start(self, memory: int, profile: NodeProfile) -> None:
        """With the default settings, `node` and `speed` give at least the semi-space Node picks by
        itself, except within 2 x that semi-space MiB above the size where Node starts picking it."""
        own = node_own_semi_space_mib(profile, memory)
        just_started = node_own_semi_space_mib(profile, memory - 2 * own) < own
        for rule in (NODE, SPEED):
            semi = plan_heap(memory, Knobs(semi_space=rule), profile).semi_space_mib
            assert semi is not None
            assert semi >= own or just_started

    @settings(max_examples=300, deadline=None)
    @given(memory=st.integers(1, 1 << 20), knobs=knobs, profile=profiles)
    def test_speed_is_at_least_node(self, memory: int, knobs: Knobs, profile: NodeProfile) -> None:
        """Speed-first never gives a smaller young generation than Node's own rule."""
        speed = plan_heap(memory, replace(knobs, semi_space=SPEED), profile)
        node = plan_heap(memory, replace(knobs, semi_space=NODE), profile)
        assert speed.young_mib >= node.young_mib


@pytest.mark.parametrize("memory", [128, 256, 512, 1024, 2048, 4096])
def test_semi_space_is_a_power_of_two(memory: int) -> None:
    """V8 rounds semi-spaces up to a power of two, so the plan only ever emits powers of two."""
    semi = plan_heap(memory, Knobs(), CONSERVATIVE).semi_space_mib
    assert semi is not None
    assert semi & (semi - 1) == 0
