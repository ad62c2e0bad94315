"""The process taxonomy: content, navigation, search, validation and matching."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from sharefab.domain.taxonomy import (
    AttributeType,
    CapabilityKind,
    InvalidAttributes,
    TaxonomyError,
    UnknownCapability,
    load_taxonomy,
    parse_taxonomy,
)

MILL5 = "separating.machining.milling.5axis"
MILLING = "separating.machining.milling"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = resources.files("sharefab.domain").joinpath("data/taxonomy.json").read_text("utf-8")
    return json.loads(text)


@pytest.fixture(scope="module")
def tax():
    return load_taxonomy()


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_shipped_file_validates_and_is_versioned(raw, tax) -> None:
    rebuilt = parse_taxonomy(raw)
    assert rebuilt.version == raw["version"] == tax.version
    assert len(rebuilt) == len(raw["nodes"])
    assert load_taxonomy() is tax  # cached


def test_has_at_least_80_nodes_and_the_din_8580_groups(tax) -> None:
    assert len(tax) >= 80
    roots = {n.code for n in tax.roots()}
    din = {"primary_shaping", "forming", "separating", "joining", "coating", "changing_properties"}
    assert din <= roots
    assert {"inspection", "design", "instruments", "logistics", "maintenance"} <= roots
    assert {n.kind for n in tax} == set(CapabilityKind)


def test_every_node_has_english_and_chinese_names_and_description(tax) -> None:
    for node in tax:
        assert node.name_en.strip() and node.description.strip(), node.code
        assert _has_cjk(node.name_zh), node.code


def test_example_codes_from_the_brief_exist(tax) -> None:
    for code in [
        "separating.machining.milling.3axis",
        MILL5,
        "separating.machining.turning.cnc",
        "separating.cutting.laser",
        "separating.cutting.waterjet",
        "separating.edm.wire",
        "primary_shaping.moulding.injection",
        "primary_shaping.casting.die",
        "primary_shaping.additive.slm",
        "forming.sheet.bending.press_brake",
        "joining.welding.tig",
        "joining.assembly.smt",
        "coating.painting.powder",
        "changing_properties.heat_treatment.vacuum",
        "inspection.cmm",
        "inspection.ndt.xray",
        "design.cae.fea",
        "instruments.sem",
        "logistics.transport.truck",
        "maintenance.cnc_service",
        "joining.textile.sewing.garment",
    ]:
        assert tax.get(code).code == code
    assert tax.get(MILL5).name_zh == "五轴铣削"


def test_subsumption_and_descendants(tax) -> None:
    assert tax.subsumes(MILLING, MILL5)
    assert tax.subsumes("separating", MILL5)
    assert tax.subsumes(MILL5, MILL5)
    assert not tax.subsumes(MILL5, MILLING)
    assert not tax.subsumes("separating.machining.turning", MILL5)
    desc = tax.descendants(MILLING)
    assert desc[0] == MILLING and MILL5 in desc
    assert MILLING not in tax.descendants(MILLING, include_self=False)
    assert all(tax.subsumes(MILLING, c) for c in desc)
    assert tax.ancestors(MILL5) == [
        "separating.machining.milling",
        "separating.machining",
        "separating",
    ]


def test_attribute_schema_is_inherited_and_extended(tax) -> None:
    milling = tax.attribute_schema(MILLING)
    five = tax.attribute_schema(MILL5)
    assert set(milling) <= set(five)
    assert five["envelope_mm"].type is AttributeType.VECTOR3
    assert five["tolerance_mm"].unit == "mm"
    turning = tax.attribute_schema("separating.machining.turning.cnc")
    assert "max_turning_diameter_mm" in turning and "max_turning_diameter_mm" not in five
    assert "spindle_speed_rpm" in five and "spindle_speed_rpm" not in tax.attribute_schema(
        "separating"
    )
    assert "clamp_force_t" in tax.attribute_schema("primary_shaping.moulding.injection")
    d = tax.get(MILL5).to_dict()
    assert d["code"] == MILL5 and d["parent"] == MILLING and d["kind"] == "manufacturing"
    assert d["attributes"]["materials"]["type"] == "set_of_strings"


def test_search_by_english_chinese_code_and_alias(tax) -> None:
    assert tax.search("5-axis milling")[0].code == MILL5
    assert tax.search("五轴")[0].code == MILL5
    assert "primary_shaping.moulding.injection" in [n.code for n in tax.search("注塑")]
    assert "primary_shaping.moulding.injection" in [n.code for n in tax.search("INJECTION")]
    laser = [n.code for n in tax.search("laser cutting")]
    assert laser[0] == "separating.cutting.laser"
    assert [n.code for n in tax.search("milling.5axis")] == [MILL5]
    assert tax.search("warehouse")[0].code == "logistics.warehousing"
    assert tax.search("no such process xyz") == []
    assert len(tax.search("", limit=7)) == 7
    assert len(tax.search("a", limit=3)) == 3


def test_unknown_capability_suggests_close_codes(tax) -> None:
    with pytest.raises(UnknownCapability) as info:
        tax.get("separating.milling.5axis")
    assert isinstance(info.value, ValueError)
    assert MILL5 in info.value.suggestions
    assert MILL5 in str(info.value)
    with pytest.raises(UnknownCapability, match=r"separating\.machining\.milling"):
        tax.get("milling")
    with pytest.raises(UnknownCapability):
        tax.subsumes("separating", "bogus.code")
    with pytest.raises(UnknownCapability, match="capability code is empty"):
        tax.get("  ")


OFFER = {
    "envelope_mm": [500, 400, 300],
    "tolerance_mm": 0.01,
    "materials": ["aluminium", "stainless_steel", "titanium"],
    "max_part_mass_kg": 50,
    "certifications": ["ISO9001", "AS9100"],
    "min_order_qty": 10,
    "surface_roughness_ra_um": 0.8,
}


def test_a_fitting_offer_matches_a_parent_request(tax) -> None:
    req = {
        "envelope_mm": [250, 480, 100],  # fits after turning the part
        "tolerance_mm": 0.02,
        "materials": "Stainless-Steel",
        "max_part_mass_kg": 12.5,
        "certifications": ["iso9001"],
        "min_order_qty": 100,
    }
    assert tax.validate_offer_attributes(MILL5, OFFER) == []
    result = tax.match(MILLING, req, MILL5, OFFER)
    assert result.ok and result.reasons == []


def test_parent_offer_does_not_serve_child_request(tax) -> None:
    result = tax.match(MILL5, {}, MILLING, OFFER)
    assert not result.ok
    assert "does not provide" in result.reasons[0]


@pytest.mark.parametrize(
    ("attr", "value", "expected"),
    [
        ("envelope_mm", [600, 100, 100], "does not fit the work envelope 500×400×300 mm"),
        ("envelope_mm", [450, 450, 100], "does not fit"),
        ("tolerance_mm", 0.005, "tolerance 0.01 mm is looser than the requested 0.005 mm"),
        ("materials", ["aluminium", "inconel"], "the offer lacks inconel"),
        ("max_part_mass_kg", 80, "part mass 80 kg exceeds the offer's maximum of 50 kg"),
        ("certifications", ["IATF16949"], "the offer lacks IATF16949"),
        ("min_order_qty", 2, "below the offer's minimum of 10 pcs"),
        ("surface_roughness_ra_um", 0.4, "surface roughness Ra 0.8 µm is looser"),
    ],
)
def test_each_attribute_kind_gives_a_reason_when_it_fails(tax, attr, value, expected) -> None:
    result = tax.match(MILLING, {attr: value}, MILL5, OFFER)
    assert not result.ok
    assert len(result.reasons) == 1
    assert expected in result.reasons[0]


def test_range_and_flag_attributes(tax) -> None:
    code = "inspection.environmental.climatic"
    offer = {"temperature_range_c": [-40, 150], "humidity_range_pct": [20, 98]}
    assert tax.validate_offer_attributes(code, offer) == []
    assert tax.match(code, {"temperature_range_c": [-40, 85]}, code, offer).ok
    assert tax.match(code, {"temperature_range_c": 125}, code, offer).ok
    bad = tax.match(code, {"temperature_range_c": [-70, 85]}, code, offer)
    assert not bad.ok and "-70..85 °C is outside the offer's -40..150 °C" in bad.reasons[0]

    truck = "logistics.transport.truck"
    plain = {"payload_t": 10, "hazmat": False}
    assert tax.match("logistics.transport", {"hazmat": True}, truck, {"hazmat": True}).ok
    refused = tax.match("logistics.transport", {"hazmat": True}, truck, plain)
    assert not refused.ok and "dangerous goods" in refused.reasons[0]
    assert tax.match("logistics", {"hazmat": True}, truck, {}).ok is False
    assert tax.match("logistics", {"hazmat": False}, truck, {}).ok


def test_missing_offer_value_cannot_be_confirmed(tax) -> None:
    result = tax.match(MILLING, {"certifications": ["ISO13485"]}, MILL5, {"tolerance_mm": 0.01})
    assert not result.ok and "does not state its certifications" in result.reasons[0]


def test_offer_validation_reports_unknown_names_and_wrong_types(tax) -> None:
    issues = tax.validate_offer_attributes(
        MILL5,
        {
            "colour": "red",
            "tolerance_mm": "tight",
            "envelope_mm": [500, 400],
            "materials": [],
            "max_part_mass_kg": -1,
            "certifications": "ISO9001",
        },
    )
    by_field = {i.field: i.message for i in issues}
    assert set(by_field) == {
        "colour",
        "tolerance_mm",
        "envelope_mm",
        "materials",
        "max_part_mass_kg",
        "certifications",
    }
    assert "unknown attribute 'colour'" in by_field["colour"]
    assert "must be a number" in by_field["tolerance_mm"]
    assert "three numbers" in by_field["envelope_mm"]
    assert "greater than 0" in by_field["max_part_mass_kg"]
    assert tax.validate_offer_attributes(MILL5, ["not", "a", "mapping"])[0].field == "attributes"
    rng = tax.validate_offer_attributes(
        "inspection.environmental.climatic", {"temperature_range_c": [150, -40], "hazmat": 1}
    )
    assert {i.field for i in rng} == {"temperature_range_c", "hazmat"}


def test_malformed_request_attributes_raise_clear_error(tax) -> None:
    with pytest.raises(InvalidAttributes, match="tolerance_mm"):
        tax.match(MILLING, {"tolerance_mm": "fine"}, MILL5, OFFER)
    with pytest.raises(InvalidAttributes, match="unknown attribute 'clamp_force_t'"):
        tax.match(MILLING, {"clamp_force_t": 100}, MILL5, OFFER)


def _broken(raw: dict[str, Any], mutate) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["nodes"].append(dict(d["nodes"][1])), "duplicate code"),
        (lambda d: d["nodes"][1].update(parent="nowhere"), "parent"),
        (
            lambda d: d["nodes"].append(
                {**d["nodes"][1], "code": "ghost.child", "parent": "ghost"}
            ),
            "does not exist",
        ),
        (lambda d: d["attributes"]["tolerance_mm"].update(type="complex"), "unknown type"),
        (lambda d: d["attributes"]["tolerance_mm"].update(match="envelope"), "does not fit"),
        (lambda d: d["nodes"][0]["attributes"].append("nonexistent"), "not defined"),
        (lambda d: d["nodes"][1]["attributes"].append("materials"), "already inherited"),
        (lambda d: d["nodes"][2].update(kind="hobby"), "unknown kind"),
        (lambda d: d["nodes"][3].update(name_zh=""), "name_zh"),
        (lambda d: d.pop("version"), "version"),
    ],
)
def test_loader_rejects_inconsistent_data(raw, mutate, message) -> None:
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(_broken(raw, mutate))


def test_reusable_matcher_agrees_with_match(tax) -> None:
    req = {"tolerance_mm": 0.01, "materials": ["titanium"], "envelope_mm": [400, 300, 200]}
    fits = tax.matcher("separating.machining", req)
    offers = [
        (MILL5, OFFER),
        (MILL5, {**OFFER, "tolerance_mm": 0.05}),
        ("separating.machining.turning.cnc", {"materials": ["steel"]}),
        ("joining.welding.tig", {}),
        ("separating.machining", None),
    ]
    for code, attrs in offers:
        assert fits(code, attrs) == tax.match("separating.machining", req, code, attrs)
    assert [fits(c, a).ok for c, a in offers] == [True, False, False, False, False]
    with pytest.raises(InvalidAttributes):
        tax.matcher("separating.machining", {"envelope_mm": [1, 2]})
