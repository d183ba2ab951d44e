"""``relscore notify`` on the real stack: alerts reach real receivers, once, whatever fails.

The receivers are real servers: aiohttp (:class:`~streams.laptop.webhook_inbox.WebhookInbox`)
for webhooks and Slack, aiosmtpd for email. Alerts come from a real worker scoring a scripted
history, or are produced into the alerts topic by an independent kafka-python client.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient

from streams.kafka_clients import kafka_client_config
from streams.laptop.scenario import scripted_population
from streams.laptop.webhook_inbox import WebhookInbox
from streams.laptop.worker_process import NotifyProcess, WorkerProcess
from streams.notify.owners import Owner
from streams.settings import Settings
from streams.tools.topic_reader import read_all, wait_caught_up
from tests.support.notify_support import (
    SECRET,
    alert,
    cleanup_policy,
    keys,
    load_owners,
    metric,
    produce_alerts,
    routes_file,
    wait_metric,
    wait_until,
)
from tests.support.secure_fixtures import make_tls
from tests.support.secure_servers import TlsFiles
from tests.support.smtp_receiver import smtp_receiver
from tests.support.stack_fixtures import EventProducer

pytestmark = pytest.mark.integration

StartNotify = Callable[..., NotifyProcess]
StartWorker = Callable[..., WorkerProcess]


def smtp_server(port: int, tls: TlsFiles) -> str:
    """An email destination's keys for the test's aiosmtpd server (STARTTLS, login)."""
    return (f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nfrom = "relscore@example.com"\n'
            f'username = "relscore"\npassword_env = "SMTP_PASSWORD"\n'
            f'ca_file = "{tls.ca_cert}"')


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("notify-tls"))


def test_every_alert_of_a_scripted_history_reaches_its_routed_destinations(
    settings: Settings, start_worker: StartWorker, start_notify: StartNotify,
    produce: EventProducer, tmp_path: Path, tls: TlsFiles,
) -> None:
    load_owners(settings, [Owner("churning-0", "Ana Lima", "ana@example.com", "U024BE7LH")])
    with WebhookInbox(SECRET) as team, WebhookInbox("oncall-s3cret") as oncall, \
            WebhookInbox() as slack, smtp_receiver(tls) as mail:
        routes = routes_file(tmp_path, f"""
[destinations.team]
kind = "webhook"
url_env = "TEAM_URL"
secret_env = "TEAM_SECRET"

[destinations.oncall]
kind = "webhook"
url_env = "ONCALL_URL"
secret_env = "ONCALL_SECRET"

[destinations.ana-slack]
kind = "slack"
url_env = "SLACK_URL"

[destinations.owner-mail]
kind = "email"
to = "owner"
{smtp_server(mail.port, tls)}

[[routes]]
send_to = ["team"]

[[routes]]
owner = ["Ana Lima"]
send_to = ["ana-slack", "owner-mail"]

[fallback]
send_to = ["oncall"]
""")
        env = {"TEAM_URL": team.url, "TEAM_SECRET": SECRET, "ONCALL_URL": oncall.url,
               "ONCALL_SECRET": "oncall-s3cret", "SLACK_URL": slack.url, "SMTP_PASSWORD": "pw"}
        notify = start_notify(settings, env, notify_routes=routes,
                              notify_page_url="https://relscore.example.com")
        phases = scripted_population(loyal=2, churning=2, newcomers=0)
        produce.events(phases[0])
        start_worker(settings)
        for phase in phases[1:]:
            produce.events(phase)
        wait_caught_up(settings)
        alerts = read_all(settings, settings.topics.alerts)
        ana = [a["alert_id"] for a in alerts if a["customer_id"] == "churning-0"]
        unowned = [a["alert_id"] for a in alerts if a["customer_id"] != "churning-0"]
        assert ana and "churning-1" in {a["customer_id"] for a in alerts}
        wait_until(lambda: len(team.answered()) >= len(alerts)
                   and len(oncall.answered()) >= len(unowned)
                   and len(slack.answered()) >= len(ana) and len(mail.accepted) >= len(ana),
                   "every alert at its destinations")

        assert sorted(keys(team)) == sorted(a["alert_id"] for a in alerts)
        assert sorted(keys(oncall)) == sorted(unowned)
        assert sorted(keys(slack)) == sorted(ana)
        assert sorted(m["X-Relscore-Alert-Id"] for m in mail.accepted) == sorted(ana)
        assert all(d.signed for d in team.received + oncall.received), "a bad signature"
        by_id = {a["alert_id"]: a for a in alerts}
        for delivery in team.answered():
            body = delivery.json()
            expected_owner = ({"owner": "Ana Lima", "email": "ana@example.com",
                               "slack": "U024BE7LH"} if body["customer_id"] == "churning-0"
                              else None)
            assert body == {**by_id[delivery.idempotency_key], "owner": expected_owner}
        for delivery in slack.answered():
            message = delivery.json()
            text = orjson.dumps(message).decode()
            assert "<@U024BE7LH> (Ana Lima)" in text
            assert "https://relscore.example.com/customers/churning-0" in text
            assert "churning-0" in message["text"] and message["blocks"]
        assert {m["To"] for m in mail.accepted} == {"ana@example.com"}
        wait_metric(notify, "relscore_notify_deliveries_total",
                    len(alerts) + len(unowned) + 2 * len(ana), outcome="delivered")
        assert read_all(settings, settings.topics.notify_dlq) == []


def test_kill_9_mid_stream_loses_no_alert_and_repeats_at_most_one(
    settings: Settings, start_notify: StartNotify,
) -> None:
    alerts = [alert(n) for n in range(16)]
    with WebhookInbox(SECRET, script=[("slow", 0.25)] * 200) as inbox:
        env_settings = settings.override(notify_webhook_url=inbox.url,
                                         notify_webhook_secret=SECRET)
        produce_alerts(settings, alerts)
        notify = start_notify(env_settings)
        wait_until(lambda: len(inbox.received) >= 5, "5 deliveries before the crash")
        notify.kill()
        before = len(inbox.received)
        assert before < len(alerts), "notify finished before it was killed"
        restarted = start_notify(env_settings)
        wait_until(lambda: set(keys(inbox)) == {a["alert_id"] for a in alerts},
                   "every alert delivered after the restart")
        # Nothing more can arrive once notify has every alert done.
        wait_until(lambda: metric(restarted, "relscore_notify_pending_alerts") == 0
                   and metric(restarted, "relscore_notify_queued") == 0, "notify idle")
        counts = Counter(keys(inbox))
        repeated = [key for key, count in counts.items() if count > 1]
        assert len(repeated) <= 1 and all(counts[key] == 2 for key in repeated), counts
        assert len(inbox.received) == len(alerts) + len(repeated)
        assert all(d.signed for d in inbox.received)


def test_a_receiver_failing_for_a_while_loses_nothing_and_a_replay_sends_nothing_again(
    settings: Settings, start_notify: StartNotify,
) -> None:
    alerts = [alert(n) for n in range(10)]
    with WebhookInbox(script=[500, 503, 502]) as inbox:
        notify = start_notify(settings, notify_webhook_url=inbox.url)
        produce_alerts(settings, alerts)
        wait_until(lambda: len(inbox.answered()) == len(alerts), "every alert taken", 90)
        assert [d.status for d in inbox.received[:3]] == [500, 503, 502]
        assert sorted(keys(inbox)) == sorted(a["alert_id"] for a in alerts)
        # The same alerts again (a redelivery, a replay of the topic), then one new alert.
        late = alert(99)
        produce_alerts(settings, [*alerts, late])
        wait_until(lambda: late["alert_id"] in keys(inbox), "the new alert")
        assert sorted(keys(inbox)) == sorted([a["alert_id"] for a in alerts] + [late["alert_id"]])
        assert metric(notify, "relscore_notify_deliveries_total", outcome="already_done") == 10
        wait_metric(notify, "relscore_notify_attempts_total", 11 + 3)
        assert read_all(settings, settings.topics.notify_dlq) == []


def test_a_hanging_destination_times_out_to_the_dlq_and_stalls_no_other(
    settings: Settings, start_notify: StartNotify, tmp_path: Path,
) -> None:
    alerts = [alert(n) for n in range(3)]
    with WebhookInbox(script=["hang"] * 50) as hanging, WebhookInbox() as fast:
        routes = routes_file(tmp_path, """
[destinations.hanging]
kind = "webhook"
url_env = "HANGING_URL"
timeout_s = 0.5
retries = 1

[destinations.fast]
kind = "webhook"
url_env = "FAST_URL"

[[routes]]
send_to = ["hanging", "fast"]
""")
        notify = start_notify(settings, {"HANGING_URL": hanging.url, "FAST_URL": fast.url},
                              notify_routes=routes)
        produce_alerts(settings, [*alerts, {"not": "an alert"}])
        wait_until(lambda: len(fast.answered()) == len(alerts), "the fast destination served")
        # Each alert holds the hanging destination 0.5 s twice plus a 0.5 s backoff.
        letters = read_all(settings, settings.topics.notify_dlq)
        assert len([x for x in letters if x.get("destination") == "hanging"]) < len(alerts)
        letters_at_end = wait_for_letters(settings, len(alerts) + 1)
        undeliverable = [x for x in letters_at_end if x["reason"] == "undeliverable"]
        assert sorted(x["alert_id"] for x in undeliverable) == sorted(
            a["alert_id"] for a in alerts)
        assert {x["destination"] for x in undeliverable} == {"hanging"}
        assert {x["error"] for x in undeliverable} == {"no answer within 0.5 s after 2 attempts"}
        assert all(x["alert"]["alert_id"] == x["alert_id"] for x in undeliverable)
        assert hanging.url not in orjson.dumps(letters_at_end).decode()
        [bad] = [x for x in letters_at_end if x["reason"] == "not_an_alert"]
        assert bad["error"] == "missing or empty alert_id" and bad["raw"] == '{"not":"an alert"}'
        wait_metric(notify, "relscore_notify_deliveries_total", len(alerts),
                    destination="hanging", outcome="dead_lettered")
        assert metric(notify, "relscore_notify_alerts_total", outcome="not_an_alert") == 1
        assert len(hanging.received) == 2 * len(alerts)


def wait_for_letters(settings: Settings, count: int) -> list[dict[str, Any]]:
    letters: list[dict[str, Any]] = []

    def enough() -> bool:
        letters[:] = read_all(settings, settings.topics.notify_dlq)
        return len(letters) >= count

    wait_until(enough, f"{count} dead letters")
    return letters


def test_a_digest_destination_mails_each_owner_once_a_day_listing_their_alerts(
    settings: Settings, start_notify: StartNotify, tmp_path: Path, tls: TlsFiles,
) -> None:
    load_owners(settings, [Owner("c-ana-1", "Ana Lima", "ana@example.com", None),
                           Owner("c-ana-2", "Ana Lima", "ana@example.com", None),
                           Owner("c-ben", "Ben Okafor", "ben@example.com", None)])
    alerts = [alert(1, "c-ana-1"), alert(2, "c-ana-2"), alert(3, "c-ana-1"), alert(4, "c-ben")]
    with smtp_receiver(tls) as mail:
        routes = routes_file(tmp_path, f"""
[destinations.owner-digest]
kind = "email"
to = "owner"
digest = true
digest_hour = 0
{smtp_server(mail.port, tls)}

[[routes]]
send_to = ["owner-digest"]
""")
        # The alerts wait in the topic: notify reads them all, then sends each owner one mail.
        produce_alerts(settings, alerts)
        notify = start_notify(settings, {"SMTP_PASSWORD": "pw"}, notify_routes=routes)
        wait_until(lambda: len(mail.accepted) == 2, "one digest per owner")
        day = time.strftime("%Y-%m-%d", time.gmtime())
        by_to = {m["To"]: m for m in mail.accepted}
        ana, ben = by_to["ana@example.com"], by_to["ben@example.com"]
        assert ana["Subject"] == f"[relscore digest] 3 alerts, {day}"
        assert ana["X-Relscore-Digest-Id"] == f"digest:owner-digest:ana@example.com:{day}"
        body = ana.get_content()
        listed = [a["as_of"] for a in alerts[:3]]
        assert all(as_of in body for as_of in listed) and alerts[3]["as_of"] not in body
        assert [body.index(as_of) for as_of in listed] == sorted(
            body.index(as_of) for as_of in listed), "oldest first"
        assert ben["Subject"] == f"[relscore digest] 1 alert, {day}"

        # Another alert the same day waits for tomorrow's digest.
        checks = metric(notify, "relscore_notify_digest_checks_total")
        produce_alerts(settings, [alert(5, "c-ben")])
        wait_until(lambda: metric(notify, "relscore_notify_deliveries_total",
                                  outcome="digested") == 5
                   and metric(notify, "relscore_notify_digest_checks_total") >= checks + 2,
                   "the late alert digested and a digest check after it")
        assert len(mail.accepted) == 2
        assert metric(notify, "relscore_notify_digests_total", outcome="sent") == 2


def test_notify_started_before_any_worker_creates_the_topics_it_needs(
    stack: Settings, start_notify: StartNotify,
) -> None:
    tag = f"fresh-{uuid.uuid4().hex[:8]}"
    fresh = stack.namespaced(tag, web_host="127.0.0.1", redis_prefix=f"relscore-test:{tag}:")
    with WebhookInbox() as inbox:
        start_notify(fresh, notify_webhook_url=inbox.url)  # ready: /healthz answers 200
        produce_alerts(fresh, [alert(1)])
        wait_until(lambda: keys(inbox) == [alert(1)["alert_id"]], "the alert")
    admin = KafkaAdminClient(**kafka_client_config(fresh.kafka))
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert {fresh.topics.alerts, fresh.topics.notify_dlq} <= topics
    assert cleanup_policy(fresh, fresh.topics.owners) == "compact"
    assert cleanup_policy(fresh, fresh.topics.alert_actions) == "compact"
