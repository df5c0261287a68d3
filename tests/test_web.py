"""srez_web and --run serve: the local page in a real browser (Chromium, driven by Selenium),
every host but 127.0.0.1 unreachable, and its API through gradio_client. Needs the web install
(requirements-web.txt, selenium) and Debian's chromium and chromium-driver; skipped without."""
import importlib.util
import json
import os
import shutil
import socket
import time
import urllib.request

import numpy as np
import pytest
from helpers import REPO_ROOT, BackgroundRun
from PIL import Image

CHROMIUM, CHROMEDRIVER = shutil.which('chromium'), shutil.which('chromedriver')
GROUP_PHOTO = os.path.join(REPO_ROOT, 'docs', 'group_photo.png')
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ('gradio', 'selenium', 'gradio_client'))
    or not CHROMIUM or not CHROMEDRIVER,
    reason='needs the web install (pip install -r requirements-web.txt selenium) and Chromium '
           '(apt-get install chromium chromium-driver)')


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture(scope='module')
def page(tmp_path_factory):
    """The page of `--run serve`, started as a user starts it: its address."""
    folder = tmp_path_factory.mktemp('serve')
    port = free_port()
    started = time.monotonic()
    run = BackgroundRun(folder / 'log.txt', ['--run', 'serve', '--port', str(port),
                                            '--serve_max_pixels', '2000000'], cwd=folder)
    address = f'http://127.0.0.1:{port}/'
    run.wait_for(f'The page is at {address}')
    while True:
        try:
            urllib.request.urlopen(address, timeout=5).read()
            break
        except OSError:
            assert run.process.poll() is None and time.monotonic() - started < 120, run.output
            time.sleep(0.1)
    run.answered_after = time.monotonic() - started
    run.address = address
    yield run
    run.kill()


@pytest.fixture(scope='module')
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                     '--no-first-run', '--disable-background-networking', '--disable-sync',
                     '--disable-component-update', '--window-size=1400,1000',
                     # Every host but this machine unreachable: what the page needs is its own.
                     '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'):
        options.add_argument(argument)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline
        time.sleep(0.2)


def result_sources(browser):
    from selenium.webdriver.common.by import By

    sources = [image.get_attribute('src')
               for image in browser.find_elements(By.CSS_SELECTOR, '#result img')]
    return sources if len(sources) == 2 and all(sources) else None


def test_the_page_upscales_a_photo_and_the_knob_changes_it(page, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    assert page.answered_after < 60
    browser.get(page.address)
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, '#photo input[type=file]'))
    browser.find_element(By.CSS_SELECTOR, '#photo input[type=file]').send_keys(GROUP_PHOTO)
    before, after = wait(lambda: result_sources(browser))
    assert 'upscaled by the model' in browser.find_element(By.CSS_SELECTOR, '#status').text
    # A row for each face found, saying what became of it.
    wait(lambda: browser.find_element(By.CSS_SELECTOR, '#faces').text.count(
        'upscaled by the') >= 4)
    # The knob, dragged as a hand drags it: the srez side changes, the bicubic one does not.
    knob = browser.find_element(By.CSS_SELECTOR, '#sharpness input[type=range]')
    ActionChains(browser).click_and_hold(knob).move_by_offset(-knob.size['width'] // 3, 0) \
        .release().perform()
    new_before, new_after = wait(lambda: (result_sources(browser) or [None, after])[1] != after
                                 and result_sources(browser))
    assert new_after != after
    assert float(browser.find_element(By.CSS_SELECTOR, '#sharpness input[type=number]')
                 .get_attribute('value')) < 0.5
    browser.save_screenshot(str(tmp_path / 'page.png'))
    with Image.open(tmp_path / 'page.png') as shot:
        assert shot.size[0] >= 1000


def test_no_request_leaves_this_machine(page, browser):
    urls = [json.loads(entry['message'])['message']['params']['request']['url']
            for entry in browser.get_log('performance')
            if json.loads(entry['message'])['message']['method'] == 'Network.requestWillBeSent']
    assert urls
    assert all(url.startswith((page.address, 'data:', 'blob:', 'ws://127.0.0.1'))
               for url in urls), [url for url in urls if not url.startswith(page.address)]


def test_the_api_upscales_4x_and_refuses_what_is_too_big(page, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(page.address, verbose=False)
    result = client.predict(handle_file(GROUP_PHOTO), 0.5, api_name='/upscale')
    with Image.open(result) as upscaled, Image.open(GROUP_PHOTO) as photo:
        assert upscaled.size == (4 * photo.width, 4 * photo.height)
    other = client.predict(handle_file(GROUP_PHOTO), 1.0, api_name='/upscale')
    assert not np.array_equal(np.asarray(Image.open(other)), np.asarray(Image.open(result)))
    Image.new('RGB', (2000, 1200)).save(tmp_path / 'big.png')
    with pytest.raises(Exception, match='the page takes up to 2,000,000'):
        client.predict(handle_file(str(tmp_path / 'big.png')), 0.5, api_name='/upscale')
