"""The web console end to end, in headless Chromium (Debian's ``chromium`` driven by
Playwright, no browser download) against real processes: sign in, create a business, upload a
document, place a simulated call, watch its transcript appear live, find it in history, and
check that another business's login cannot see it. Screenshots go to ``$TEST_OUTPUT_DIR``
(default ``test-output/``)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard_gateway.console.profile_form import defaults
from switchboard_sim.call import CallResult, CallSimulator, Scenario
from switchboard_sim.stack import Child, LocalStack

from .conftest import REALTIME_SCRIPT, SCENARIO, RunningStack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (make install-chromium)"
    ),
]

ADMIN_TOKEN = "console-admin-token"
NUMBER = "+15550177"
OUTPUT = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")) / "console"
WAIT_MS = 20_000

playwright_api = pytest.importorskip("playwright.async_api")


class ConsoleStack(RunningStack):
    @property
    def console(self) -> str:
        return f"{self.gateway_url}/console"


@pytest.fixture(scope="module")
async def console_system() -> AsyncIterator[ConsoleStack]:
    async with LocalStack() as stack:
        await stack.start_nats()
        await stack.start_realtime_sim(script=REALTIME_SCRIPT)
        # A small threshold: the browser test's "large" upload becomes a job to follow.
        knowledge = await stack.start_knowledge(KNOWLEDGE_SYNC_INGEST_MAX_BYTES="2048")
        await stack.start_agent("agent-console")
        gateway = await stack.start_gateway(
            "gateway-console",
            GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
            GATEWAY_KNOWLEDGE_URL=knowledge.announced,
            KNOWLEDGE_ADMIN_TOKEN=stack.auth_token,
        )
        yield ConsoleStack(stack, gateway)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def _logged(child: Child, needle: str, timeout_s: float = 10) -> None:
    async with asyncio.timeout(timeout_s):
        while needle not in child.log_path.read_text(errors="replace"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


async def _sign_in(page: Any, console: str, login: str, password: str) -> None:
    await page.goto(f"{console}/login")
    await page.get_by_label("Login").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("Password").press("Enter")  # the keyboard alone
    await page.wait_for_selector("text=Signed in as " + login, timeout=WAIT_MS)


async def _create_business(page: Any, console: str, business_id: str, number: str) -> None:
    await page.goto(f"{console}/businesses/new")
    await page.get_by_label("Business id").fill(business_id)
    await page.get_by_label("Name", exact=True).fill(business_id.title())
    await page.get_by_label("Phone numbers").fill(number)
    await page.get_by_role("button", name="Create business").click()
    await page.wait_for_selector("text=Saved.", timeout=WAIT_MS)


async def _add_login(page: Any, console: str, business_id: str, login: str) -> None:
    await page.goto(f"{console}/businesses/{business_id}")
    await page.locator("#new-login").fill(login)
    await page.locator("#new-password").fill(f"{login}-password")
    await page.get_by_role("button", name="Add login").click()
    await page.get_by_role("button", name=f"Remove login {login}").wait_for(timeout=WAIT_MS)


async def test_a_call_seen_live_and_in_history_by_its_business_only(
    console_system: ConsoleStack, browser: Any
) -> None:
    console = console_system.console
    page = await browser.new_page()

    # 1. sign in (a wrong password first: refused, the form says so)
    await page.goto(f"{console}/calls")
    assert "/console/login" in page.url
    await page.get_by_label("Login").fill("admin")
    await page.get_by_label("Password").fill("not-the-token")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("[role=alert]", timeout=WAIT_MS)
    await _sign_in(page, console, "admin", ADMIN_TOKEN)
    await _shot(page, "01-signed-in")
    # the keyboard alone: the first Tab reaches the skip link, which moves focus to the page
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    await page.goto(f"{console}/health")
    agents = await page.get_by_role("table", name="Agents and their free capacity").inner_text()
    assert "agent-console" in agents
    await _shot(page, "01-health")

    # 2. create two businesses, each with a login; a bad number is refused beside its field
    await page.goto(f"{console}/businesses/new")
    await page.get_by_label("Business id").fill("broken")
    await page.get_by_label("Name", exact=True).fill("Broken")
    await page.get_by_label("Phone numbers").fill("not a number")
    await page.get_by_role("button", name="Create business").click()
    error = page.locator("#f-phone_numbers-error")
    await error.wait_for(timeout=WAIT_MS)
    assert "E.164" in (await error.inner_text())
    await page.locator("#error-summary a").first.click()  # the summary leads to the field
    assert await page.evaluate("document.activeElement.id") == "f-phone_numbers"
    await _shot(page, "02-validation-error")
    await _create_business(page, console, "acme", NUMBER)
    await _shot(page, "03-business-created")
    await _add_login(page, console, "acme", "acme-owner")
    await _create_business(page, console, "rival", "+15550178")
    await _add_login(page, console, "rival", "rival-owner")
    await _logged(console_system.gateway, "business acme at revision")

    # 3. upload a document, then ask it a question
    await page.goto(f"{console}/businesses/acme/knowledge")
    await page.get_by_label("Text, Markdown, HTML, PDF or Word file").set_input_files(
        {
            "name": "acme-hours.md",
            "mimeType": "text/markdown",
            "buffer": b"# Opening hours\n\nAcme is open Monday to Friday, 9 to 5.\n",
        }
    )
    await page.get_by_role("button", name="Upload").click()
    await page.wait_for_selector("#documents >> text=acme-hours.md", timeout=WAIT_MS)
    # a large file becomes a job: the page shows the upload's progress, then the job's
    paragraph = b"Deliveries arrive at the loading dock behind the building every morning.\n\n"
    await page.get_by_label("Text, Markdown, HTML, PDF or Word file").set_input_files(
        {"name": "acme-deliveries.txt", "mimeType": "text/plain", "buffer": paragraph * 40}
    )
    async with page.expect_request(lambda r: "/knowledge/jobs/" in r.url, timeout=WAIT_MS):
        await page.get_by_role("button", name="Upload").click()
    await page.wait_for_selector("#documents >> text=acme-deliveries.txt", timeout=WAIT_MS)
    await page.get_by_label("What a caller might ask").fill("When are you open?")
    await page.get_by_role("button", name="Search").click()
    answers = page.locator("#answers")
    await answers.wait_for(timeout=WAIT_MS)
    assert "Monday to Friday" in await answers.inner_text()
    assert "Score" in await answers.inner_text()
    await _shot(page, "04-knowledge")

    async def accept(dialog: Any) -> None:
        await dialog.accept()

    page.once("dialog", accept)  # "Delete acme-deliveries.txt?"
    await page.get_by_role("button", name="Delete acme-deliveries.txt").click()
    await page.wait_for_selector(
        "#documents >> text=acme-deliveries.txt", state="detached", timeout=WAIT_MS
    )
    assert "acme-hours.md" in await page.locator("#documents").inner_text()

    # 4. place a simulated call while the live list is open; 5. follow its transcript live
    await page.goto(f"{console}/calls")
    scenario = Scenario.load(SCENARIO)
    call: asyncio.Task[CallResult] = asyncio.create_task(
        CallSimulator(console_system.call_config(to_number=NUMBER)).run(scenario)
    )
    try:
        link = page.locator("#live-rows a").first
        await link.wait_for(timeout=WAIT_MS)
        await _shot(page, "05-live-calls")
        await page.wait_for_selector("#live-count >> text=1 call in progress", state="attached")
        row = await page.locator("#live-rows tr").first.inner_text()
        assert "acme" in row and NUMBER not in row  # the caller's number is masked
        call_id = (await link.inner_text()).strip()
        await link.click()
        caller = page.locator("#transcript li.ev-caller_turn").first
        await caller.wait_for(timeout=WAIT_MS)
        assert "live" in (await page.locator("#follow-status").inner_text())
        await _shot(page, "06-transcript-live")
        result = await asyncio.wait_for(call, 90)
    finally:
        if not call.done():
            call.cancel()
    assert result.call_sid == call_id
    await page.wait_for_selector("#call-ended >> text=Why it ended", timeout=WAIT_MS)
    transcript = await page.locator("#transcript").inner_text()
    assert "opening hours" in transcript
    assert "Tool take_message" in transcript
    assert re.search(r"Agent \(answered in \d+ ms\)", transcript)  # turn latencies
    await _shot(page, "07-call-ended")

    # 6. the call in history, filtered by business
    await page.goto(f"{console}/history")
    await page.get_by_label("Business").select_option("acme")
    await page.get_by_label("Outcome").select_option("caller_hung_up")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_selector(f"a:text('{call_id}')", timeout=WAIT_MS)
    await _shot(page, "08-history")
    for other in ("business=rival", "outcome=agent_lost", "start=2999-01-01"):
        await page.goto(f"{console}/history?{other}")
        assert call_id not in await page.locator("table").inner_text(), other

    # 7. the other business's login does not see it; its own login does
    await page.get_by_role("button", name="Sign out").click()
    await _sign_in(page, console, "rival-owner", "rival-owner-password")
    await page.goto(f"{console}/history")
    assert call_id not in await page.content()
    answer = await page.goto(f"{console}/calls/{call_id}")
    assert answer is not None and answer.status == 404
    assert await page.get_by_role("heading", name="Not found").is_visible()
    answer = await page.goto(f"{console}/businesses/acme/knowledge")
    assert answer is not None and answer.status == 404
    await page.goto(f"{console}/businesses/rival/knowledge")
    await page.get_by_label("What a caller might ask").fill("When are you open?")
    await page.get_by_label("What a caller might ask").press("Enter")
    await page.wait_for_selector("#answers >> text=No answer", timeout=WAIT_MS)
    await page.goto(f"{console}/history")
    await _shot(page, "09-other-business")
    await page.get_by_role("button", name="Sign out").click()
    await _sign_in(page, console, "acme-owner", "acme-owner-password")
    await page.goto(f"{console}/history")
    await page.wait_for_selector(f"a:text('{call_id}')", timeout=WAIT_MS)
    await page.close()


async def test_sessions_are_signed_and_a_forged_one_is_refused(
    console_system: ConsoleStack,
) -> None:
    forged = {"sb_console": "eyJsIjoiYWRtaW4iLCJiIjpudWxsLCJlIjo5OTk5OTk5OTk5fQ.bad"}
    async with httpx.AsyncClient(
        base_url=console_system.console, timeout=10, cookies=forged
    ) as client:
        answer = await client.get("/calls")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login")


async def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(
    console_system: ConsoleStack,
) -> None:
    """A copied (or stolen) cookie stops working the moment its owner signs out; a second
    session of the same login stays open."""
    base = console_system.console
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as first,
        httpx.AsyncClient(base_url=base, timeout=10) as second,
    ):
        for client in (first, second):
            signed_in = await client.post(
                "/login", data={"login": "admin", "password": ADMIN_TOKEN}
            )
            assert signed_in.status_code == 303
        cookie = first.cookies["sb_console"]
        assert cookie != second.cookies["sb_console"]
        async with httpx.AsyncClient(
            base_url=base, timeout=10, cookies={"sb_console": cookie}
        ) as copy:
            assert (await copy.get("/calls")).status_code == 200
            assert (await first.post("/logout")).status_code == 303
            after = await copy.get("/calls")
            assert after.status_code == 303
            assert after.headers["location"].startswith("/console/login")
        assert (await second.get("/calls")).status_code == 200


async def test_two_editors_never_overwrite_each_other(console_system: ConsoleStack) -> None:
    """Both open revision n; the first save wins, the second is refused with the reason."""
    profile = {"business_id": "shared", "name": "Shared", "phone_numbers": ["+15550179"]}
    async with httpx.AsyncClient(base_url=console_system.gateway_url, timeout=10) as client:
        created = await client.post(
            "/admin/businesses", json=profile, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert created.status_code == 201
        signed_in = await client.post(
            "/console/login", data={"login": "admin", "password": ADMIN_TOKEN}
        )
        assert signed_in.status_code == 303
        form = await client.get("/console/businesses/shared")
        match = re.search(r'name="revision" value="(\d+)"', form.text)
        assert match is not None
        fields = {
            **defaults("shared"),
            "revision": match.group(1),
            "business_id": "shared",
            "name": "Shared",
            "phone_numbers": "+15550179",
            "enabled_tools": "take_message",
        }
        first = await client.post("/console/businesses/shared", data={**fields, "greeting": "Hi"})
        assert first.status_code == 303
        second = await client.post(
            "/console/businesses/shared", data={**fields, "greeting": "Hello"}
        )
        assert second.status_code == 409
        assert "Someone else saved this business" in second.text
        stored = await client.get(
            "/admin/businesses/shared", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert stored.json()["business"]["greeting"] == "Hi"


async def test_a_removed_login_is_signed_out_and_guessing_is_slowed(
    console_system: ConsoleStack,
) -> None:
    base = console_system.gateway_url
    profile = {"business_id": "temp", "name": "Temp", "phone_numbers": ["+15550180"]}
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as admin,
        httpx.AsyncClient(base_url=base, timeout=10) as owner,
    ):
        created = await admin.post(
            "/admin/businesses", json=profile, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert created.status_code == 201
        await admin.post("/console/login", data={"login": "admin", "password": ADMIN_TOKEN})
        added = await admin.post(
            "/console/businesses/temp/logins",
            data={"login": "temp-owner", "password": "temp-owner-password"},
        )
        assert added.status_code == 303
        signed_in = await owner.post(
            "/console/login", data={"login": "temp-owner", "password": "temp-owner-password"}
        )
        assert signed_in.status_code == 303
        assert (await owner.get("/console/calls")).status_code == 200
        assert (await owner.get("/console/health")).status_code == 403  # platform admins only
        removed = await admin.post("/console/businesses/temp/logins/temp-owner/delete")
        assert removed.status_code == 303
        after = await owner.get("/console/calls")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/console/login")

        answers = [
            (await owner.post("/console/login", data={"login": "nobody", "password": "guess"}))
            for _ in range(6)
        ]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
