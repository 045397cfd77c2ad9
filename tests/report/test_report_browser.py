"""The report page in a real browser: headless Chromium driven by selenium.

Skips without ``/usr/bin/chromium`` (Debian: ``apt-get install chromium chromium-driver``)
or without selenium. Saves a screenshot under the pytest tmp dir and copies it to
``/tmp/report_screenshot.png``.
"""

import re
import shutil
from pathlib import Path

import pytest

from sklearn_curate.cli._curate import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing"),
    pytest.mark.skipif(not CHROMEDRIVER.exists(), reason="/usr/bin/chromedriver is missing"),
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",  # WebGL in software, as --disable-gpu leaves it
    "--window-size=1400,1000",
]


def open_browser(user_data_dir: Path):
    """A headless Chromium with its console log readable."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={user_data_dir}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def wait_rendered(driver, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body.getAttribute('data-rendered')") == "1"
    )


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "out"
    assert main(["curate", "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def page(report_dir, tmp_path_factory):
    driver = open_browser(tmp_path_factory.mktemp("chrome-profile"))
    try:
        driver.get((report_dir / "report.html").as_uri())
        wait_rendered(driver)
        yield driver
    finally:
        driver.quit()


def test_no_console_errors(page):
    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_3d_view_renders_webgl(page):
    size = page.execute_script(
        """
        const gd = document.getElementById('scatter3d');
        const c = gd.querySelector('canvas');
        if (!c) return null;
        const gl = c.getContext('webgl') || c.getContext('experimental-webgl')
                   || c.getContext('webgl2');
        return [c.width, c.height, !!gl, gd._fullLayout.scene._scene !== undefined];
        """
    )
    assert size is not None, "no canvas in the 3D view"
    w, h, has_gl, has_scene = size
    assert w > 0 and h > 0 and has_gl and has_scene
    n_points = page.execute_script(
        "return document.getElementById('scatter3d').data.reduce((a, t) => a + t.x.length, 0)"
    )
    assert n_points == 1852


@pytest.mark.parametrize("graph", ["scatter2d", "scatter3d"])
def test_clicking_a_point_shows_its_image(page, graph):
    page.execute_script("document.getElementById('hover-img').removeAttribute('src')")
    page.execute_script(
        """
        const gd = document.getElementById(arguments[0]);
        const t = gd.data[1];  // the outliers
        gd.emit('plotly_click', {points: [{curveNumber: 1, pointNumber: 0,
            customdata: t.customdata[0], data: t}]});
        """,
        graph,
    )
    src = page.execute_script("return document.getElementById('hover-img').src")
    assert src.startswith("data:image/png;base64,")
    label = page.execute_script("return document.getElementById('hover-id').textContent")
    assert "outlier" in label


def test_mouse_hover_shows_its_image(page):
    """A real mouse move over a point of the 2D view fires plotly_hover."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    page.execute_script("document.getElementById('hover-img').removeAttribute('src')")
    gd = page.find_element("id", "scatter2d")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", gd)
    dx, dy = page.execute_script(
        """
        const gd = arguments[0], fl = gd._fullLayout, t = gd.data[1];
        const x = fl.xaxis._offset + fl.xaxis.l2p(t.x[0]);
        const y = fl.yaxis._offset + fl.yaxis.l2p(t.y[0]);
        const r = gd.getBoundingClientRect();
        return [x - r.width / 2, y - r.height / 2];
        """,
        gd,
    )
    ActionChains(page).move_to_element_with_offset(gd, int(dx), int(dy)).perform()
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script("return document.getElementById('hover-img').src")
    )
    src = page.execute_script("return document.getElementById('hover-img').src")
    assert src.startswith("data:image/png;base64,")


def test_visible_numbers_come_from_report_json(page, report_dir):
    import json

    from test_report import json_numbers, visible_numbers_ok

    text = page.execute_script(
        """
        const clone = document.body.cloneNode(true);
        clone.querySelectorAll('.js-plotly-plot, .plot, script').forEach(e => e.remove());
        document.body.appendChild(clone); clone.style.display = 'block';
        const t = clone.innerText; clone.remove(); return t;
        """
    )
    numbers = json_numbers(json.loads((report_dir / "report.json").read_text()))
    assert re.search(r"\d", text)
    visible_numbers_ok(text, numbers)


def test_screenshot(page, tmp_path):
    page.execute_script("document.getElementById('embedding').scrollIntoView()")
    path = tmp_path / "report_screenshot.png"
    assert page.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    shutil.copy(path, "/tmp/report_screenshot.png")
