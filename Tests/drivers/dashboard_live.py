#!/usr/bin/env python3
"""Drives the dashboard in headless Chromium through Selenium, for luapiped's tests: opens
URL (the live page, following /api/stream), waits until the graph of output ID shows a
sum, prints "READY <sum>", waits for a line on standard input (the test sent more data),
then waits until the same graph shows another sum without reloading the page, saves a
screenshot to SHOT and prints "CHANGED <old> <new>". Uses Debian's chromium and
chromedriver by explicit paths: nothing is downloaded.

Usage: dashboard_live.py URL ID SHOT"""
import sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, output_id, shot = sys.argv[1], sys.argv[2], sys.argv[3]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(url)
    box = "output-" + output_id

    def shown_sum(d):
        els = d.find_elements(By.ID, box)
        if not els or not d.find_elements(By.CSS_SELECTOR, "[id='%s'] canvas" % box):
            return None
        return els[0].get_attribute("data-sum")

    first = WebDriverWait(driver, 30).until(lambda d: shown_sum(d) not in (None, "", "0") and shown_sum(d))
    print("READY", first, flush=True)
    sys.stdin.readline()
    later = WebDriverWait(driver, 30).until(lambda d: (shown_sum(d) or first) != first and shown_sum(d))
    driver.save_screenshot(shot)
    print("CHANGED", first, later, flush=True)
finally:
    driver.quit()
