"""sidecar.fleet.intrinsics: intrinsic functions and unrendered templates, told apart from values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sidecar.fleet.intrinsics import Intrinsic, intrinsic_of, is_unrendered


def yaml_load(text: str) -> Any:
    from ruamel.yaml import YAML  # noqa: PLC0415

    return YAML(typ="rt").load(text)


class TestIsUnrendered:
    @pytest.mark.parametrize(
        "value",
        [
            "${image}",
            "123456789012.dkr.ecr.${region}.amazonaws.com/app:1",
            "{{ .Values.image }}",
            "%{ if x }a%{ endif }",
            "<%= image %>",
            {"Ref": "Image"},
            {"Fn::Sub": "${AWS::AccountId}.dkr.ecr"},
            Intrinsic({"Ref": "Image"}, None),
        ],
    )
    def test_templates_and_intrinsics(self, value: Any) -> None:
        """Placeholders of Terraform, Helm/Jinja, ERB and CloudFormation functions are not values yet."""
        assert is_unrendered(value)

    @pytest.mark.parametrize("value", ["node:22", "$HOME", "a{b}", {"Name": "x"}, {"Ref": "a", "Other": 1}, 5, None])
    def test_values(self, value: Any) -> None:
        """Plain strings (a bare `$HOME` too), objects of two keys, numbers and nothing are values."""
        assert not is_unrendered(value)

    def test_yaml_short_form(self) -> None:
        """A YAML tagged node (`!Sub ...`) is unrendered."""
        assert is_unrendered(yaml_load("a: !Sub x-${AWS::Region}\n")["a"])


class TestIntrinsic:
    def test_short_and_long_forms_are_equal(self) -> None:
        """`!GetAtt` over a list and `Fn::GetAtt:` say the same thing; `!Ref` is shown as written."""
        tree = yaml_load("a: !GetAtt [Role, Arn]\nb:\n  Fn::GetAtt: [Role, Arn]\nc: !Ref Image\n")
        a, b, c = (intrinsic_of(tree[k]) for k in "abc")
        assert a == b
        assert a is not None
        assert a.canonical == {"Fn::GetAtt": ["Role", "Arn"]}
        assert str(c) == "!Ref Image"

    def test_copies_are_itself(self) -> None:
        """Immutable: a deep copy of a definition shares it (its node is never edited)."""
        value = Intrinsic({"Ref": "X"}, {"Ref": "X"})
        assert copy.deepcopy({"v": value})["v"] is value
        assert hash(value) == hash(Intrinsic({"Ref": "X"}, None))
