"""The explorer page in a real headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium): load the page, move a slider with the keyboard, see the image change,
toggle an attribute, switch to refine, reset, set a diffusion model's sampling steps; a
screenshot of each page.

Runs where /usr/bin/chromium and /usr/bin/chromedriver exist (.ci/run installs them; under CI
a missing browser fails the test instead of skipping it). Screenshots go to
$KERASGEN_SCREENSHOTS if set (the README's picture), else to the test's tmp folder; models
come from $KERASGEN_EXPLORE_VAE / $KERASGEN_EXPLORE_CGAN / $KERASGEN_EXPLORE_DIFFUSION (.keras
files) if set, else small fresh ones (the diffusion model saved and reloaded, as `kerasgen
explore` loads one).
"""

import os
import shutil

import numpy as np
import pytest

import kerasgen
from kerasgen.data import synthetic_faces
from kerasgen.explorer import Explorer, ExplorerServer, start_in_thread

CHROMIUM = os.environ.get("KERASGEN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KERASGEN_CHROMEDRIVER", "/usr/bin/chromedriver")
ATTRIBUTES = ["Male", "Smiling", "Eyeglasses", "Blond_Hair"]


def _browser_or_reason():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return ", ".join(missing)


@pytest.fixture(scope="module")
def browser():
    missing = _browser_or_reason()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test under CI needs {missing} (.ci/run installs them)")
        pytest.skip(f"no headless browser here: missing {missing} "
                    "(apt-get install chromium chromium-driver; pip install selenium)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1150,640"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _serve(model, data=None):
    server = ExplorerServer(Explorer(model, data=data, n_components=6, max_images=512), port=0)
    start_in_thread(server)
    return server


def _load(name, build):
    path = os.environ.get(name)
    if path:
        from kerasgen.runs import load_kerasgen_model

        return load_kerasgen_model(path)
    return build()


def _renders(driver):
    return int(driver.execute_script("return Number(document.body.dataset.renders || 0)"))


def _wait_for_render(driver, after):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: _renders(d) > after)
    return _renders(driver)


def _pixels(driver):
    """The face as the page shows it: the <img>'s pixels read back through a canvas."""
    return driver.execute_script("""
        const img = document.getElementById('face');
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const context = canvas.getContext('2d');
        context.drawImage(img, 0, 0);
        return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data);
    """)


def _screenshot(driver, tmp_path, name):
    folder = os.environ.get("KERASGEN_SCREENSHOTS") or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur();")
    assert driver.save_screenshot(path)
    assert os.path.getsize(path) > 10_000
    return path


def test_vae_page_slider_moves_the_face_and_reset_restores_it(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    model = _load("KERASGEN_EXPLORE_VAE",
                  lambda: kerasgen.VAE(latent_dim=16, image_size=32, seed=0))
    server = _serve(model, synthetic_faces(n=512, image_size=model.image_size, batch_size=128))
    try:
        browser.get(server.url + "?seed=11")
        count = _wait_for_render(browser, 0)
        first = _pixels(browser)
        assert len(first) == model.image_size ** 2 * 4
        assert "principal components" in browser.find_element(By.ID, "method").text
        sliders = browser.find_elements(By.CSS_SELECTOR, "input[type=range]")
        assert len(sliders) == 6
        start = float(sliders[0].get_attribute("value"))
        # A user's move: focus the first slider, press the right arrow 12 times (0.05 each).
        sliders[0].send_keys(*([Keys.ARROW_RIGHT] * 12))
        count = _wait_for_render(browser, count)
        assert float(sliders[0].get_attribute("value")) == pytest.approx(min(start + 0.6, 3.0),
                                                                          abs=0.051)
        _wait_until_settled(browser)
        moved = _pixels(browser)
        assert moved != first
        assert "&c=" in browser.execute_script("return document.body.dataset.image")
        _screenshot(browser, tmp_path, "explorer_vae.png")
        browser.find_element(By.ID, "reset").click()
        _wait_for_render(browser, count)
        _wait_until_settled(browser)
        assert _pixels(browser) == first
        assert browser.find_element(By.ID, "status").text == ""
    finally:
        server.shutdown()
        server.server_close()


def _wait_until_settled(driver):
    """Until no request is in flight and the shown image is the page's latest state."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return window.settled() && document.getElementById('face').complete"))


def test_conditional_gan_page_toggles_attributes_and_refines(browser, tmp_path):
    from selenium.webdriver.common.by import By

    model = _load("KERASGEN_EXPLORE_CGAN", lambda: kerasgen.ConditionalGAN(
        attributes=ATTRIBUTES, latent_dim=16, image_size=32, seed=0))
    server = _serve(model)
    try:
        browser.get(server.url + "?seed=4")
        count = _wait_for_render(browser, 0)
        _wait_until_settled(browser)
        first = _pixels(browser)
        assert "Jacobian" in browser.find_element(By.ID, "method").text
        toggles = browser.find_elements(By.CSS_SELECTOR, "#attributes input[type=checkbox]")
        assert [t.get_attribute("id") for t in toggles] == [f"attr-{a}" for a in model.attributes]
        smiling = browser.find_element(By.ID, "attr-Smiling")
        was = smiling.is_selected()
        smiling.click()
        count = _wait_for_render(browser, count)
        _wait_until_settled(browser)
        assert smiling.is_selected() != was
        toggled = _pixels(browser)
        assert toggled != first
        assert f"Smiling%3A{int(not was)}" in browser.execute_script(
            "return document.body.dataset.image")
        assert not browser.find_element(By.ID, "steps").is_displayed()  # diffusion only
        _screenshot(browser, tmp_path, "explorer_cgan.png")
        browser.find_element(By.ID, "mode-refine").click()
        count = _wait_for_render(browser, count)
        _wait_until_settled(browser)
        assert "mode=refine" in browser.execute_script("return document.body.dataset.image")
        assert _pixels(browser) != toggled
        # A bad value reaches the server: the page shows its message and keeps working.
        browser.execute_script("state.coords[0] = 99; state.touched = true; render();")
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser, 60).until(
            lambda d: "slider values must be" in d.find_element(By.ID, "status").text)
        browser.find_element(By.ID, "reset").click()
        _wait_for_render(browser, count)
        _wait_until_settled(browser)
        assert browser.find_element(By.ID, "status").text == ""
    finally:
        server.shutdown()
        server.server_close()


def _tiny_saved_diffusion(folder):
    """A 16 px Diffusion model over 50 forward steps, saved and reloaded. Untrained, its UNet
    predicts 0 (a zero-initialised output layer) and every number of steps draws the same
    clipped image; random output weights make what it draws depend on the steps."""
    model = kerasgen.Diffusion(image_size=16, width=8, blocks=1, dropout=0.0, timesteps=50,
                               ema=None, seed=0)
    kernel = model.unet.get_layer("prediction").kernel
    kernel.assign(np.random.default_rng(0).normal(0.0, 0.05, kernel.shape).astype("float32"))
    path = os.path.join(folder, "diffusion.keras")
    model.save(path)
    from kerasgen.runs import load_kerasgen_model

    return load_kerasgen_model(path)


def _png_pixels(png):
    """RGBA values of a PNG, in the order `_pixels` reads the page's."""
    import io

    from PIL import Image

    return list(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).reshape(-1))


def test_diffusion_page_sends_the_sampling_steps_and_shows_their_face(browser, tmp_path):
    """The steps control shows for a diffusion model (the GAN test checks it hidden), starts at
    the explorer's default, and a new value typed into it is sent with the next image request
    (in the URL the page fetched and in the arguments the server drew with) and changes the
    face to the one drawn with those steps, pixel for pixel."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from kerasgen.explorer.core import DEFAULT_STEPS

    model = _load("KERASGEN_EXPLORE_DIFFUSION", lambda: _tiny_saved_diffusion(str(tmp_path)))
    new_steps = 3 if DEFAULT_STEPS != 3 else 4
    server = _serve(model)
    explorer = server.explorer
    asked = []  # the `steps` of every image the server drew
    png = explorer.png

    def recording_png(*args, **kwargs):
        asked.append(kwargs.get("steps"))
        return png(*args, **kwargs)

    explorer.png = recording_png
    expected = {steps: _png_pixels(png(7, steps=steps)) for steps in (DEFAULT_STEPS, new_steps)}
    # Different faces, or showing the right one would prove nothing.
    assert expected[DEFAULT_STEPS] != expected[new_steps]
    try:
        browser.get(server.url + "?seed=7")
        count = _wait_for_render(browser, 0)
        _wait_until_settled(browser)
        assert "DCT" in browser.find_element(By.ID, "method").text
        steps = browser.find_element(By.ID, "steps")
        assert steps.is_displayed()
        assert steps.get_attribute("value") == str(DEFAULT_STEPS)
        assert steps.get_attribute("max") == str(model.timesteps)
        assert f"&steps={DEFAULT_STEPS}" in browser.execute_script(
            "return document.body.dataset.image")
        assert asked == [DEFAULT_STEPS]
        assert _pixels(browser) == expected[DEFAULT_STEPS]
        # A user's edit: select the field's text, type the new number, leave the field.
        steps.send_keys(Keys.CONTROL, "a")
        steps.send_keys(str(new_steps), Keys.TAB)
        count = _wait_for_render(browser, count)
        _wait_until_settled(browser)
        assert steps.get_attribute("value") == str(new_steps)
        assert browser.execute_script("return document.body.dataset.image").endswith(
            f"&steps={new_steps}")
        assert asked == [DEFAULT_STEPS, new_steps]
        assert _pixels(browser) == expected[new_steps]
        assert browser.find_element(By.ID, "status").text == ""
        _screenshot(browser, tmp_path, "explorer_diffusion.png")
    finally:
        server.shutdown()
        server.server_close()
