"""The page at GET / in a real headless Chromium (Debian's chromium + chromium-driver, via Selenium),
against a real gunicorn serving the app under a path prefix, as behind a proxy (SCRIPT_NAME).

Each test writes a screenshot of the state it checks to reports/screenshots/ (git-ignored).
"""
from __future__ import annotations

import base64
import io
import os
import shutil
import time

import numpy as np
import pytest
import requests
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)  # each test; together they take well under a minute

PREFIX = "/fmnist"
MAX_UPLOAD_MB = 0.25  # small, so that a too-large file is quick to make and send
SCREENSHOTS = ROOT / "reports" / "screenshots"
# The network is closed here: without these, Chromium waits on connections it tries to make itself.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000"]
# Runs in the page: a File from base64 bytes, handed to the page in the event a person's paste or
# drop fires (no clipboard or drag source exists in headless Chromium).
DISPATCH_FILE = """
const [data, name, type, kind, targetId] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, { type }));
const init = { bubbles: true, cancelable: true };
const event = kind === "paste" ? new ClipboardEvent("paste", { ...init, clipboardData: transfer })
  : new DragEvent("drop", { ...init, dataTransfer: transfer });
document.getElementById(targetId).dispatchEvent(event);
"""


@pytest.fixture(scope="module")
def server(gunicorn_server, trained_model_dir):
    srv = gunicorn_server(trained_model_dir, workers=1, wait=False,
                          env={"SCRIPT_NAME": PREFIX, "MAX_UPLOAD_MB": str(MAX_UPLOAD_MB)})
    srv.url += PREFIX  # gunicorn answers only under the prefix; /readyz is /fmnist/readyz
    srv.wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("Chromium is missing: apt-get install -y chromium chromium-driver (.ci/run does it)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager, which would download one, never runs.
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture()
def page(browser, server):
    """The page freshly loaded, the model's status shown, the console log emptied."""
    browser.set_window_size(1280, 1000)
    browser.get(f"{server.url}/")
    WebDriverWait(browser, 10).until(lambda b: " is ready (" in b.find_element(By.ID, "model-status").text)
    browser.get_log("browser")
    return browser


@pytest.fixture(scope="module")
def test_pngs(fmnist_dir, tmp_path_factory) -> list:
    """Real test images of the sample as PNG files, three different labels."""
    from training.data import load_idx
    images = load_idx(fmnist_dir / "t10k-images-idx3-ubyte.gz", 3)
    labels = load_idx(fmnist_dir / "t10k-labels-idx1-ubyte.gz", 1)
    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for label in (9, 1, 7):  # Ankle boot, Trouser, Sneaker
        index = int(np.flatnonzero(labels == label)[0])
        paths.append(folder / f"test-{index}.png")
        Image.fromarray(images[index]).save(paths[-1])
    return paths


def screenshot(driver, name: str, full_page: bool = True) -> None:
    """The whole page (or only the window) as reports/screenshots/<name>.png."""
    path = SCREENSHOTS / f"{name}.png"
    if not full_page:
        driver.save_screenshot(str(path))
        return
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def cards(driver, count: int, timeout: float = 15.0) -> list:
    """The first `count` result cards once none of them is still waiting for its answer."""
    def settled(d):
        found = d.find_elements(By.CSS_SELECTOR, "#results > li")
        if len(found) < count or any(c.get_attribute("data-state") == "pending" for c in found):
            return None
        return found[:count]
    return WebDriverWait(driver, timeout).until(settled)


def console_errors(driver, allowed: str = "") -> list[str]:
    """SEVERE console entries, except the network line of an expected error status (`allowed`)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
            and not (allowed and entry["source"] == "network" and allowed in entry["message"])]


def shown_input(card) -> np.ndarray:
    """The 28x28 image a card shows as the model's input."""
    src = card.find_element(By.CSS_SELECTOR, "img.model-input").get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def api_answer(server, path) -> dict:
    response = requests.post(f"{server.url}/predict?return_input=png",
                             files={"image": (path.name, path.read_bytes(), "image/png")}, timeout=30)
    return response.json()


def test_page_loads_without_console_errors(page, server):
    assert page.current_url == f"{server.url}/"
    assert page.title == "Fashion-MNIST classifier"
    version = requests.get(f"{server.url}/readyz", timeout=10).json()["model_version"]
    assert version in page.find_element(By.ID, "model-status").text
    # The stylesheet applied (a CSP or a wrong URL would leave the canvas unstyled).
    assert page.find_element(By.ID, "canvas").value_of_css_property("touch-action") == "none"
    assert console_errors(page) == []
    screenshot(page, "01-loaded")


def test_uploaded_images_show_the_apis_label_and_probabilities(page, server, test_pngs):
    page.find_element(By.ID, "file-input").send_keys("\n".join(str(p) for p in test_pngs))
    shown = cards(page, len(test_pngs))
    for card, path in zip(shown, test_pngs):
        answer = api_answer(server, path)
        assert card.find_element(By.CSS_SELECTOR, ".source").text == path.name
        assert card.get_attribute("data-state") == "done"
        assert card.find_element(By.CSS_SELECTOR, ".label").text == answer["label"]
        assert card.find_element(By.CSS_SELECTOR, ".confidence").text == f"{answer['confidence'] * 100:.1f} %"
        bars = card.find_elements(By.CSS_SELECTOR, ".bars li")
        assert [b.find_element(By.CSS_SELECTOR, ".name").text for b in bars] == list(answer["probabilities"])
        assert [float(b.get_attribute("data-probability")) for b in bars] == list(answer["probabilities"].values())
        assert [b.find_element(By.CSS_SELECTOR, ".value").text for b in bars] == [
            f"{p * 100:.1f} %" for p in answer["probabilities"].values()]
        assert "top" in bars[answer["class_index"]].get_attribute("class")
        # The 28x28 shown is the API's input_png, and for a 28x28 test image, that image itself.
        assert np.array_equal(shown_input(card), np.asarray(Image.open(path)))
        assert card.find_element(By.CSS_SELECTOR, "img.model-input").value_of_css_property(
            "image-rendering") == "pixelated"
        assert card.find_element(By.CSS_SELECTOR, ".version").text == f"Model version {answer['model_version']}"
    assert console_errors(page) == []
    screenshot(page, "02-uploaded")


def draw_stroke(driver) -> None:
    """A vertical stroke down the middle of the canvas, with a real mouse through the driver."""
    canvas = driver.find_element(By.ID, "canvas")
    chain = ActionChains(driver, duration=20).move_to_element_with_offset(canvas, 0, -90).click_and_hold()
    for _ in range(6):
        chain.move_by_offset(0, 30)
    chain.release().perform()


def bright_columns(image: np.ndarray) -> np.ndarray:
    return np.flatnonzero(image.max(axis=0) > 128)


@pytest.mark.parametrize("colours", ["white-on-black", "black-on-white"])
def test_a_stroke_on_the_canvas_gets_a_prediction(page, colours):
    page.find_element(By.CSS_SELECTOR, f'input[name="colours"][value="{colours}"]').click()
    draw_stroke(page)
    card = cards(page, 1)[0]
    assert card.find_element(By.CSS_SELECTOR, ".source").text == "Drawing"
    assert card.get_attribute("data-state") == "done"
    assert card.find_element(By.CSS_SELECTOR, ".label").text in [
        b.find_element(By.CSS_SELECTOR, ".name").text for b in card.find_elements(By.CSS_SELECTOR, ".bars li")]
    # Either way the model sees a light stroke on dark, in the middle columns.
    seen = shown_input(card)
    assert seen[0].max() < 30 and 10 <= bright_columns(seen).min() <= bright_columns(seen).max() <= 17
    draw_stroke(page)  # a second stroke replaces the drawing's card
    assert len(cards(page, 1)) == len(page.find_elements(By.CSS_SELECTOR, "#results > li")) == 1
    assert console_errors(page) == []
    screenshot(page, f"03-drawing-{colours}")


def test_keyboard_alone_reaches_the_controls_and_predicts(page):
    reached = []  # from the top of the freshly loaded page
    for _ in range(12):
        ActionChains(page).send_keys(Keys.TAB).perform()
        focused = page.switch_to.active_element
        reached.append(focused.get_attribute("id") or focused.get_attribute("value"))
        if reached[-1] == "predict-drawing":
            break
    assert reached[0] == "file-input" and reached[-1] == "predict-drawing", reached
    assert "white-on-black" in reached  # the checked colour: arrow keys then switch colours
    assert focused.value_of_css_property("outline-style") != "none"  # focus is visible
    ActionChains(page).send_keys(Keys.ENTER).perform()
    assert cards(page, 1)[0].get_attribute("data-state") == "done"
    screenshot(page, "04-keyboard", full_page=False)


def test_a_file_that_is_not_an_image_shows_the_apis_400_message(page, server, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    answer = requests.post(f"{server.url}/predict", files={"image": (notes.name, notes.read_bytes())},
                           timeout=30).json()
    page.find_element(By.ID, "file-input").send_keys(str(notes))
    card = cards(page, 1)[0]
    assert card.get_attribute("data-state") == "error"
    text = card.find_element(By.CSS_SELECTOR, ".error").text
    assert "could not read this file as an image" in text
    assert f"{answer['error']['message']} (HTTP 400, invalid_image)" in text
    assert console_errors(page, allowed="status of 400") == []
    screenshot(page, "05-not-an-image")


def test_a_file_over_the_upload_limit_shows_413(page, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(int(MAX_UPLOAD_MB * 1024 * 1024) + 100_000))
    page.find_element(By.ID, "file-input").send_keys(str(big))
    card = cards(page, 1)[0]
    text = card.find_element(By.CSS_SELECTOR, ".error").text
    assert "The file is too large for the service." in text and "(HTTP 413, " in text
    assert console_errors(page, allowed="status of 413") == []
    screenshot(page, "06-too-large")


@pytest.mark.parametrize("kind, target", [("paste", "results"), ("drop", "drop-zone")])
def test_pasted_or_dropped_image_gets_a_prediction(page, server, test_pngs, kind, target):
    path = test_pngs[1]
    page.execute_script(DISPATCH_FILE, base64.b64encode(path.read_bytes()).decode(), path.name, "image/png",
                        kind, target)
    card = cards(page, 1)[0]
    assert card.find_element(By.CSS_SELECTOR, ".source").text == (
        "Pasted image (image/png)" if kind == "paste" else path.name)
    assert card.find_element(By.CSS_SELECTOR, ".label").text == api_answer(server, path)["label"]
    assert console_errors(page) == []
    screenshot(page, f"07-{kind}")


def test_phone_width_has_no_sideways_scrolling(page, test_pngs):
    page.set_window_size(390, 844)
    page.find_element(By.ID, "file-input").send_keys(str(test_pngs[0]))
    card = cards(page, 1)[0]
    time.sleep(0.2)  # the layout after the resize and the new card
    width = page.execute_script("return document.documentElement.clientWidth")
    assert page.execute_script("return document.documentElement.scrollWidth") <= width
    for element in (page.find_element(By.ID, "canvas"), card):
        assert element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= width
    page.execute_script("arguments[0].scrollIntoView()", card)
    screenshot(page, "08-phone", full_page=False)


def heatmap_pixels(driver, card) -> np.ndarray:
    """The card's heatmap canvas as RGBA [28, 28, 4], read in the page."""
    values = driver.execute_script(
        "return Array.from(arguments[0].getContext('2d').getImageData(0, 0, 28, 28).data);",
        card.find_element(By.CSS_SELECTOR, "canvas.heatmap"))
    return np.array(values, dtype=np.uint8).reshape(28, 28, 4)


def test_the_heatmap_toggle_lays_the_apis_attributions_over_the_input(page, server, test_pngs):
    path = test_pngs[0]
    page.find_element(By.ID, "file-input").send_keys(str(path))
    card = cards(page, 1)[0]
    toggle = card.find_element(By.CSS_SELECTOR, ".heatmap-toggle")
    assert toggle.is_displayed() and toggle.get_attribute("aria-pressed") == "false"
    assert not card.find_element(By.CSS_SELECTOR, "canvas.heatmap").is_displayed()
    toggle.click()
    WebDriverWait(page, 15).until(lambda d: card.get_attribute("data-heatmap") == "shown")
    heatmap = card.find_element(By.CSS_SELECTOR, "canvas.heatmap")
    assert heatmap.is_displayed() and heatmap.rect["width"] == heatmap.rect["height"] == 112
    # Over the input image, exactly where the model input is shown.
    seen = card.find_element(By.CSS_SELECTOR, "img.model-input")
    assert (heatmap.rect["x"], heatmap.rect["y"]) == (seen.rect["x"], seen.rect["y"])
    explanation = requests.post(f"{server.url}/explain",
                                files={"image": (path.name, path.read_bytes(), "image/png")},
                                timeout=30).json()["explanation"]
    attributions = np.array(explanation["attributions"])
    pixels = heatmap_pixels(page, card).astype(int)
    assert (pixels[attributions == 0, 3] == 0).all()  # no share, fully transparent
    strong = np.abs(attributions) > 0.3 * np.abs(attributions).max()
    red_minus_blue = pixels[..., 0] - pixels[..., 2]
    assert strong.any() and (np.sign(red_minus_blue[strong]) == np.sign(attributions[strong])).all()
    legend = card.find_element(By.CSS_SELECTOR, ".heatmap-legend")
    assert legend.is_displayed() and explanation["class"] in legend.text and "exact" in legend.text
    assert legend.find_element(By.CSS_SELECTOR, ".legend-max").text.startswith("+")
    assert toggle.get_attribute("aria-pressed") == "true"
    templates = page.find_element(By.ID, "templates")
    assert templates.is_displayed()
    assert page.execute_script("return arguments[0].naturalWidth", templates) > 500
    assert "template" in page.find_element(By.ID, "templates-status").text
    assert console_errors(page) == []
    screenshot(page, "09-heatmap")
    page.execute_script("arguments[0].scrollIntoView()", card)
    card.screenshot(str(SCREENSHOTS / "09-heatmap-card.png"))
    toggle.click()  # and off again
    assert not heatmap.is_displayed() and not legend.is_displayed()
    assert card.get_attribute("data-heatmap") == "hidden"


@pytest.fixture(scope="module")
def keyed_server(gunicorn_server, trained_model_dir):
    srv = gunicorn_server(trained_model_dir, workers=1, env={"API_KEYS": "page-key", "HOST": "127.0.0.1"})
    yield srv
    srv.stop()


def test_with_api_keys_the_page_asks_for_the_key_then_predicts(browser, keyed_server, test_pngs):
    browser.get(f"{keyed_server.url}/")
    WebDriverWait(browser, 10).until(lambda b: " is ready (" in b.find_element(By.ID, "model-status").text)
    assert not browser.find_element(By.ID, "key-form").is_displayed()
    browser.find_element(By.ID, "file-input").send_keys(str(test_pngs[0]))
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "key-form").is_displayed())
    assert "needs an API key" in browser.find_element(By.ID, "key-note").text
    card = browser.find_element(By.CSS_SELECTOR, "#results > li")
    assert card.find_element(By.CSS_SELECTOR, ".label").text == "Waiting for the API key…"
    screenshot(browser, "08-asks-for-key")
    key_input = browser.find_element(By.ID, "api-key")
    key_input.send_keys("wrong-key", Keys.ENTER)  # refused: asked again
    WebDriverWait(browser, 10).until(lambda b: "did not accept" in b.find_element(By.ID, "key-note").text)
    browser.find_element(By.ID, "api-key").send_keys("page-key", Keys.ENTER)
    (done,) = cards(browser, 1)
    assert done.get_attribute("data-state") == "done" and done.find_element(By.CSS_SELECTOR, ".label").text
    # Kept in this tab's sessionStorage only, not in localStorage or a cookie.
    assert browser.execute_script("return sessionStorage.getItem('fashion-mnist-api-key')") == "page-key"
    assert browser.execute_script("return localStorage.length") == 0 and browser.get_cookies() == []
    browser.find_element(By.ID, "file-input").send_keys(str(test_pngs[1]))  # the key goes along now
    assert [c.get_attribute("data-state") for c in cards(browser, 2)] == ["done", "done"]
    assert not browser.find_element(By.ID, "key-form").is_displayed()
    assert console_errors(browser, allowed="401") == []
    screenshot(browser, "09-predicted-with-key")
