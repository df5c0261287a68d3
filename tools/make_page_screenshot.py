"""Makes docs/web_page.png, the README's picture of the web page with a result: --run serve
started as a user starts it, docs/group_photo.png dropped on it, in headless Chromium.

    pip install -r requirements-web.txt selenium && apt-get install chromium chromium-driver
    python tools/make_page_screenshot.py
"""
import os
import subprocess
import sys
import time
import urllib.request

from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 7869


def make_page_screenshot():
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, 'srez_main.py'), '--run',
                               'serve', '--port', str(PORT)], stdout=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for argument in ('--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1400,900',
                     '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService('/usr/bin/chromedriver'),
                              options=options)
    try:
        address = f'http://127.0.0.1:{PORT}/'
        for _ in range(600):
            try:
                urllib.request.urlopen(address, timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        driver.get(address)
        time.sleep(2)
        driver.find_element(By.CSS_SELECTOR, '#photo input[type=file]').send_keys(
            os.path.join(ROOT, 'docs', 'group_photo.png'))
        while 'upscaled by the model' not in driver.find_element(By.CSS_SELECTOR, '#status').text:
            time.sleep(0.2)
        time.sleep(2)
        path = os.path.join(ROOT, 'docs', 'web_page.png')
        driver.save_screenshot(path)
        Image.open(path).convert('RGB').quantize(256).save(path, optimize=True)  # Small.
    finally:
        driver.quit()
        server.terminate()


if __name__ == '__main__':
    make_page_screenshot()
