"""Times the web page as a user meets it: `--run serve` started as a user starts it, then
docs/group_photo.png through the /upscale API at the default knob and at other settings.
Run it on a quiet machine; it prints the figures docs/speed.md quotes.

    pip install -r requirements-web.txt
    python tools/web_timings.py
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from gradio_client import Client, handle_file
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 7871
KNOBS = (0.5, 0.8, 0.2, 0.5)


def wait_for_page(address, server):
    start = time.perf_counter()
    while server.poll() is None:
        try:
            urllib.request.urlopen(address, timeout=2)
            return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f'the server stopped with exit code {server.returncode}')


def web_timings():
    photo = os.path.join(ROOT, 'docs', 'group_photo.png')
    address = f'http://127.0.0.1:{PORT}/'
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, os.path.join(ROOT, 'srez_main.py'), '--run',
                                   'serve', '--port', str(PORT)], cwd=home,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_page(address, server)
            print(f'page answers {time.perf_counter() - started:.2f} s after the command')
            client = Client(address, verbose=False)
            for knob in KNOBS:
                start = time.perf_counter()
                result = client.predict(handle_file(photo), knob, api_name='/upscale')
                seconds = time.perf_counter() - start
                size = Image.open(result).size
                print(f'/upscale at sharpness {knob}: {seconds:.2f} s, {size[0]}x{size[1]}')
        finally:
            server.terminate()
            server.wait()


if __name__ == '__main__':
    web_timings()
