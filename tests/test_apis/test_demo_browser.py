"""The demo page in a real headless browser (Debian's chromium + chromedriver, driven by Selenium).

Without chromium the test is skipped, except under CI=true, where it fails (.ci/run installs it)."""
import glob
import json
import os
import os.path as osp
import shutil
import threading
import urllib.request

import pytest

from sdfn_plugin.apis import CIRInferencer
from sdfn_plugin.apis.demo_server import DemoApp, make_server

TOPK = 4


def _browser_binaries():
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    driver = shutil.which('chromedriver')
    if chromium and driver:
        return chromium, driver
    if os.environ.get('CI') == 'true':
        pytest.fail('chromium and chromium-driver are required under CI=true '
                    '(apt-get install -y chromium chromium-driver)')
    pytest.skip('needs chromium and chromedriver (apt-get install -y chromium chromium-driver)')


@pytest.fixture(scope='module')
def demo(tiny_tirg, css_root, tmp_path_factory):
    """The demo server on a free 127.0.0.1 port over 12 test images; stopped after the module."""
    (src, ) = glob.glob(osp.join(css_root, '*', 'images'))
    folder = tmp_path_factory.mktemp('demo_gallery')
    for name in sorted(p for p in os.listdir(src) if p.startswith('test_'))[:12]:
        shutil.copy(osp.join(src, name), folder / name)
    inferencer = CIRInferencer('tirg_css', tiny_tirg[1], gallery=str(folder), device='cpu')
    server = make_server(DemoApp(inferencer), '127.0.0.1', 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}', inferencer, folder
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _post(url, body):
    req = urllib.request.Request(url + '/api/search', data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_search_endpoint_ranks_like_the_inferencer_and_names_bad_fields(demo):
    url, inferencer, folder = demo
    status, data = _post(url, {'text': 'make the red circle blue', 'topk': TOPK, 'gallery_id': 2})
    assert status == 200
    expected = inferencer((inferencer.index.keys[2], 'make the red circle blue'), topk=TOPK)['predictions'][0]
    assert [r['id'] for r in data['results']] == expected['indices']
    assert 2 not in expected['indices'] and len(expected['indices']) == TOPK  # the picked reference is left out
    assert [r['score'] for r in data['results']] == [round(s, 4) for s in expected['scores']]
    assert _post(url, {'text': '  ', 'gallery_id': 2}) == (
        400, {'error': 'the modification text is empty: type how the reference should change', 'field': 'text'})
    status, data = _post(url, {'text': 'add a cube', 'image': 'data:text/plain;base64,aGVsbG8=',
                               'filename': 'notes.txt'})
    assert status == 400 and data['field'] == 'image' and data['error'].startswith('notes.txt is not an image')
    status, data = _post(url, {'text': 'add a cube', 'gallery_id': 99})
    assert status == 400 and data['field'] == 'gallery_id'
    with urllib.request.urlopen(url + '/image/0', timeout=30) as res:
        assert res.read() == open(inferencer.index.keys[0], 'rb').read()
    with pytest.raises(urllib.error.HTTPError, match='404'):
        urllib.request.urlopen(url + '/image/..%2F..%2Fetc%2Fpasswd', timeout=30)


def test_page_in_headless_chromium_renders_k_results(demo, tmp_path):
    chromium, driver_path = _browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, _, _ = demo
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 f'--user-data-dir={tmp_path / "profile"}', '--window-size=1100,800'):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, '#gallery img')) == 12)
        browser.find_elements(By.CSS_SELECTOR, '#gallery img')[2].click()
        browser.find_element(By.ID, 'text').send_keys('make the red circle blue')
        topk = browser.find_element(By.ID, 'topk')
        topk.clear()
        topk.send_keys(str(TOPK))
        browser.find_element(By.ID, 'search').click()
        wait.until(lambda b: b.find_element(By.ID, 'results').get_attribute('data-count') == str(TOPK))
        loaded = ("return [...document.querySelectorAll('#results img')]"
                  '.filter(i => i.complete && i.naturalWidth > 0).length')
        wait.until(lambda b: b.execute_script(loaded) == TOPK)
        assert len(browser.find_elements(By.CSS_SELECTOR, '#results img')) == TOPK
        # SDFN_SCREENSHOT_DIR keeps the picture for a person to look at
        shot_dir = os.environ.get('SDFN_SCREENSHOT_DIR', str(tmp_path))
        os.makedirs(shot_dir, exist_ok=True)
        shot = osp.join(shot_dir, 'demo.png')
        assert browser.save_screenshot(shot) and osp.getsize(shot) > 10_000
        # a non-image upload: one message naming the field and the file
        bad = tmp_path / 'notes.txt'
        bad.write_text('not an image')
        browser.find_element(By.ID, 'upload').send_keys(str(bad))
        browser.find_element(By.ID, 'search').click()
        wait.until(lambda b: b.find_element(By.ID, 'message').text != '')
        assert browser.find_element(By.ID, 'message').text.startswith('image: notes.txt is not an image')
    finally:
        browser.quit()
