"""The player in Debian's Chromium (Playwright, /usr/bin/chromium; `make chromium` installs it)
against a real `synthconv serve` process over a copy of the shared offline run: the pages list
runs and conversations, the player plays the mix, highlights the turn being played, and seeks
when a turn is clicked, in the transcript or on the waveform; without LiveKit the form that starts
a conversation is disabled with its reason; a server with a token takes it in a form and keeps it
where no script can read it. Screenshots go to test-artifacts/."""

import json
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, read_jsonl, start

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "serve"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(runs: Path, *extra: str):  # noqa: ANN201 - (url, process)
    port = _free_port()
    proc = start("serve", "--runs", str(runs), "--port", str(port), *extra)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/openapi.json", timeout=2).read()
            return url, proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"synthconv serve did not start: {proc.communicate()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server(offline_run, tmp_path_factory):
    runs = tmp_path_factory.mktemp("browsed")
    shutil.copytree(offline_run, runs / "seed7")
    url, proc = serve(runs)
    yield url, runs / "seed7"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "no /usr/bin/chromium: run `make chromium` (apt-get install chromium)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1200, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        browser.close()
        assert errors == []


def mix_time(page) -> float:
    return page.evaluate("document.getElementById('mix').currentTime")


def test_runs_and_filtered_conversations(server, page):
    url, run = server
    index = read_jsonl(run / "conversations.jsonl")
    page.goto(url + "/")
    page.locator("#runs a", has_text="seed7").click()
    page.wait_for_selector("#conversations tbody tr")
    assert page.locator("#conversations tbody tr").count() == len(index)
    page.screenshot(path=ARTIFACTS / "conversations.png")
    scenario = index[-1]["scenario"]
    page.select_option("#filter-scenario", scenario)
    page.wait_for_function(f"document.querySelectorAll('#conversations tbody tr').length == "
                           f"{sum(r['scenario'] == scenario for r in index)}")
    assert set(page.locator("#conversations tbody td:nth-child(3)").all_inner_texts()) == {scenario}
    page.goto(url + "/")
    page.wait_for_selector("#runs tbody tr")
    page.screenshot(path=ARTIFACTS / "runs.png")


def test_player_plays_follows_and_seeks(server, page):
    url, run = server
    cid = read_jsonl(run / "conversations.jsonl")[0]["id"]
    turns = read_jsonl(run / "conversations" / cid / "transcript.jsonl")
    meta = json.loads((run / "conversations" / cid / "meta.json").read_text())
    page.goto(f"{url}/#/runs/seed7/{cid}")
    page.wait_for_selector("#transcript li")
    assert page.locator("#transcript li").count() == len(turns)
    page.wait_for_selector("#problems.ok")
    assert page.locator("#problems").inner_text() == "valid against docs/FORMAT.md"
    assert meta["personas"][turns[0]["role"]]["name"] in page.locator("dl.facts").inner_text()
    # both waveforms decoded, every turn a region on its speaker's lane
    page.wait_for_function("document.querySelectorAll('.lane').length == 2")
    for t in turns:
        page.locator(f'[part~="turn-{t["turn"]}"]').wait_for(timeout=15000)

    page.evaluate("document.getElementById('mix').play()")
    page.wait_for_function("document.getElementById('mix').currentTime > 0.5", timeout=15000)
    page.wait_for_selector("#transcript li.current")
    now, current = mix_time(page), int(page.locator("#transcript li.current").get_attribute("data-turn"))
    assert turns[current]["start"] - 0.3 <= now <= turns[current]["end"] + 0.3

    # click a turn in the transcript: the mix jumps to its start. The page marks the last listed
    # turn that is speaking, so take one (from the middle on) that no later turn overlaps at once
    def alone(i: int) -> bool:
        t = turns[i]
        return t["end"] - t["start"] > 1.0 and all(o["start"] > t["start"] + 0.8 for o in turns[i + 1:])
    target = turns[next(i for i in [*range(len(turns) // 2, len(turns)), *range(len(turns) // 2)] if alone(i))]
    page.evaluate("document.getElementById('mix').pause()")  # so the clock stands still to be read
    page.locator(f'#transcript li[data-turn="{target["turn"]}"]').click()
    assert abs(mix_time(page) - target["start"]) < 0.02
    page.evaluate("document.getElementById('mix').play()")
    page.wait_for_function(f"document.getElementById('mix').currentTime > {target['start'] + 0.3}")
    assert mix_time(page) < target["start"] + 3  # and plays on from there
    page.wait_for_selector(f'#transcript li.current[data-turn="{target["turn"]}"]')
    page.screenshot(path=ARTIFACTS / "player.png")

    other = turns[-1]  # click a region on the waveform: the same
    page.evaluate("document.getElementById('mix').pause()")
    page.locator(f'[part~="turn-{other["turn"]}"]').click()
    assert abs(mix_time(page) - other["start"]) < 0.02


def test_start_form_says_why_it_is_off(server, page):
    url, _ = server
    page.goto(url + "/")
    page.wait_for_selector("#runs tbody tr")
    reason = page.locator("#start-disabled").inner_text()
    assert reason.startswith("this server has no LiveKit: start it with --livekit-url"), reason
    assert page.locator("#start button[type=submit]").is_disabled() and page.locator("#start-engine").is_disabled()
    page.screenshot(path=ARTIFACTS / "runs-no-livekit.png")


def test_the_token_form_and_a_cookie_no_script_reads(server, page):
    token = "p" * 32
    url, proc = serve(server[1].parent, "--api-token", token)
    try:
        page.goto(url + "/")
        page.fill("#token", "not-the-token-at-all")
        page.click("#token-form button")
        page.wait_for_selector("#token-error:has-text('not this server')")
        page.fill("#token", token)
        page.click("#token-form button")
        page.wait_for_selector("#runs tbody tr")  # the calls after it carry the cookie
        assert token not in page.evaluate("document.cookie")  # HttpOnly: the page's scripts cannot read it
        cookie = next(c for c in page.context.cookies() if c["name"] == "synthconv_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] == token
    finally:
        page.context.clear_cookies()
        proc.terminate()
        proc.wait(10)
