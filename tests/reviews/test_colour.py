"""Swatches: Lab or hex input, client approval, ΔE2000 of an image's marked region."""
import numpy as np
import pytest

from masks.color import delta_e2000, srgb_to_lab
from reviews.models import ColourCheck
from reviews.services import colour
from tests.conftest import make_ingested

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value,expected", [("#ffffff", (100, 0, 0)), ("50, 10, -20", (50, 10, -20)), ("0 0 0", (0, 0, 0))])
def test_parse_colour(value, expected):
    assert np.allclose(colour.parse_colour(value), expected, atol=0.05)


@pytest.mark.parametrize("value", ["", "#12", "red", "1,2", "nan, 0, 0", "150, 0, 0", "50, 300, 0"])
def test_bad_colours_are_refused(value):
    with pytest.raises(colour.ColourError):
        colour.parse_colour(value)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "abc", "100"])
def test_bad_tolerance(value):
    with pytest.raises(colour.ColourError):
        colour.parse_tolerance(value)


def flat_image(world, rgb_value):
    rgb = np.zeros((90, 120, 3), np.uint8)
    rgb[:] = (250, 250, 250)
    rgb[20:70, 30:90] = rgb_value
    alpha = np.zeros((90, 120), np.uint8)
    alpha[20:70, 30:90] = 255
    return make_ingested(world.image, rgb, alpha)


def test_measure_against_swatch_pass_and_fail(world):
    image = flat_image(world, (183, 110, 121))
    lead = world.users["lead"]
    exact = colour.create_swatch(world.collection, lead, "rose", "#b76e79", 1.0)
    off = colour.create_swatch(world.collection, lead, "yellow", "#d4af37", 2.0)
    ok = colour.measure(image, exact, (25, 15, 70, 60), lead)  # region spills onto backdrop: mask excludes it
    assert ok.passed and ok.delta_e < 1.0
    bad = colour.measure(image, off, (30, 20, 60, 50), lead)
    expected = float(delta_e2000(srgb_to_lab(np.array([183, 110, 121], np.uint8)), np.array(off.lab)))
    assert not bad.passed and abs(bad.delta_e - expected) < 0.5
    again = colour.measure(image, exact, (30, 20, 60, 50), lead)
    assert again.pk == ok.pk and ColourCheck.objects.count() == 2  # one check per image and swatch
    with pytest.raises(colour.ColourError, match="inside"):
        colour.measure(image, exact, (100, 80, 50, 50), lead)
    with pytest.raises(colour.ColourError):
        colour.measure(image, exact, (0, 0, 10, 10), lead)  # no object pixels there


def test_swatch_views(world, client):
    client.force_login(world.users["lead"])
    url = f"/collections/{world.other_org_collection.pk}/swatches/"
    assert client.post(url, {"name": "pearl", "colour": "#eeeeee", "tolerance": "2"}).status_code == 302
    assert client.post(url, {"name": "pearl", "colour": "#eeeeee"}).status_code == 302  # duplicate: message only
    assert world.other_org_collection.swatches.count() == 1
    swatch = world.other_org_collection.swatches.get()
    assert client.post(f"/swatches/{swatch.pk}/approve/").status_code == 403  # the client approves colour
    client.force_login(world.users["client_b"])
    assert client.post(f"/swatches/{swatch.pk}/approve/").status_code == 302
    swatch.refresh_from_db()
    assert swatch.approved_by == world.users["client_b"] and swatch.approved_at


def test_measure_view_json(world, client):
    image = flat_image(world, (183, 110, 121))
    swatch = colour.create_swatch(world.collection, world.users["lead"], "rose", "#b76e79", 1.0)
    client.force_login(world.users["retoucher1"])
    r = client.post(f"/images/{image.pk}/colour/", {"swatch": swatch.pk, "x": 30, "y": 20, "w": 60, "h": 50},
                    HTTP_ACCEPT="application/json")
    assert r.status_code == 200 and r.json()["passed"] is True
    r = client.post(f"/images/{image.pk}/colour/", {"swatch": swatch.pk, "x": "nan", "y": 0, "w": 1, "h": 1},
                    HTTP_ACCEPT="application/json")
    assert r.status_code == 400 and "error" in r.json()


def test_swatch_measured_on_a_reference_photo(world):
    image = flat_image(world, (183, 110, 121))
    lead = world.users["lead"]
    swatch = colour.create_swatch(world.collection, lead, "rose from photo", "", 2.0, reference=image, rect=(30, 20, 60, 50))
    expected = srgb_to_lab(np.array([183, 110, 121], np.uint8))
    assert float(delta_e2000(np.array(swatch.lab), expected)) < 0.5
    assert (swatch.reference_image, swatch.ref_x, swatch.ref_w) == (image, 30, 60)
    with pytest.raises(colour.ColourError, match="reference"):
        colour.create_swatch(world.other_org_collection, lead, "wrong", "", 2.0, reference=image, rect=(30, 20, 60, 50))
    with pytest.raises(colour.ColourError, match="colour"):
        colour.create_swatch(world.collection, lead, "nothing", "", 2.0)
