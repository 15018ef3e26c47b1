#!/usr/bin/env python3
"""The autocomplete page in a real browser: trains a model on the built-in corpus with
tapegrad-lm, starts `tapegrad-lm serve` on a free loopback port, types "king sits on" into the
page in headless Chromium (Debian's chromium, chromium-driver and python3-selenium), and checks
that a suggestion chip shows "the" or "throne" and that Tab accepts the first one. Saves a
screenshot of the page with its suggestions.

    browser_check.py TAPEGRAD_LM WORK_DIR [SCREENSHOT]
"""
import os
import re
import shutil
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    lm, work = sys.argv[1], sys.argv[2]
    screenshot = sys.argv[3] if len(sys.argv) == 4 else os.path.join(work, "autocomplete.png")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    model = os.path.join(work, "model")
    subprocess.run([lm, "train", "--out", model], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([lm, "serve", "--model", model, "--port", "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    driver = None
    try:
        line = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            sys.exit(f"browser_check: the server did not say where it listens: {line!r}")
        url = f"http://127.0.0.1:{match.group(1)}/"

        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=900,520"):
            options.add_argument(flag)
        options.binary_location = "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(url)
        box = driver.find_element(By.ID, "text")
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: "vocabulary of" in d.find_element(By.ID, "model").text)
        box.send_keys("king sits on")

        def chips(d):  # read in one script: the chips are redrawn as answers arrive
            return d.execute_script(
                "return Array.from(document.querySelectorAll('.chip'))"
                ".map(c => c.firstChild.textContent)")

        # The chips follow the last key: wait until they answer the whole "king sits on".
        wait.until(lambda d: d.find_element(By.ID, "chips").get_attribute("data-for") ==
                   "king sits on")
        if not any(t in ("the", "throne") for t in chips(driver)):
            sys.exit(f"browser_check: after 'king sits on' the chips show {chips(driver)}, "
                     "expected 'the' or 'throne' among them")
        shown = chips(driver)
        status = driver.find_element(By.ID, "status").text
        print(f"typed 'king sits on': chips {shown}; status: {status}")
        if "ms" not in status:
            sys.exit(f"browser_check: no latency line under the chips: {status!r}")
        driver.save_screenshot(screenshot)
        print(f"screenshot: {screenshot}")

        box.send_keys(Keys.TAB)  # accepts the first chip
        wait.until(lambda d: box.get_attribute("value").startswith("king sits on " + shown[0]))
        print(f"Tab accepted '{shown[0]}': {box.get_attribute('value')!r}")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            sys.exit("browser_check: the server did not stop within 10 s of SIGTERM")
    if server.returncode != 0:
        sys.exit(f"browser_check: the server exited with {server.returncode} on SIGTERM")
    print("the page suggests as you type")


if __name__ == "__main__":
    main()
