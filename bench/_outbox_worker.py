"""One delivery process for bench/outbox.py: delivers everything due, reports its figures."""

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.notify.channels import LogSmsProvider, SmsChannel  # noqa: E402
from portal.notify.services import DeliveryPolicy, deliver_due  # noqa: E402


class RecordingProvider(LogSmsProvider):
    """The log provider, also noting every reference it is handed (to count duplicates)."""

    def __init__(self, database, log_path, refs_path):
        super().__init__(database, log_path)
        self.refs = refs_path.open("w")

    def send(self, requests):
        self.refs.writelines(r.reference + "\n" for r in requests)
        return super().send(requests)


def main() -> None:
    url, owner, workdir, batch = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench" * 10,
            "SECRET_KEY_GENERATED": False,
            "PORTAL_LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        provider = RecordingProvider(
            db, workdir / f"sms-{owner}.log", workdir / f"refs-{owner}.txt"
        )
        started = time.perf_counter()
        report = deliver_due(
            db,
            senders={"sms": SmsChannel(provider)},
            owner=owner,
            policy=DeliveryPolicy(batch_size=batch),
        )
        elapsed = time.perf_counter() - started
        provider.refs.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "owner": owner,
                "sent": report.sent,
                "claimed": report.claimed,
                "seconds": elapsed,
                "peak_mib": peak_mib,
            }
        )
    )


if __name__ == "__main__":
    main()
