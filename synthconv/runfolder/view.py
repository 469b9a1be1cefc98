"""A run as it stands: run.json plus each planned conversation's status, for complete, running
and interrupted runs alike (what `inspect`, `serve` and `export` read first)."""

from __future__ import annotations

from pathlib import Path

from ..errors import RunFolderError
from .conversation import read_error, read_meta
from .index import read_index
from .names import conversation_dir, no_links
from .run import read_run_info
from .schema import ConversationMeta, IndexLine, SchemaError


def read_run(run: Path) -> dict:  # noqa: C901
    """run.json plus every planned conversation's status: ok, failed or pending.

    Works on complete, running and interrupted runs: what conversations.jsonl does not list yet
    is read off the conversation folders (a folder with a readable meta.json is complete).
    Damage (a bad line, an unreadable meta.json) is collected in "damage", never raised.
    """
    run = Path(run)
    info = read_run_info(run)
    no_links(run / "conversations.jsonl", run / "conversations")  # not the folders inside: each is checked alone
    jobs = info["jobs"]
    planned = {j["id"] for j in jobs}
    index: dict[str, dict] = {}
    damage: list[str] = []
    for n, entry in read_index(run):
        if isinstance(entry, str):
            damage.append(f"conversations.jsonl line {n}: {entry}")
        elif entry.id not in planned:
            damage.append(f"conversations.jsonl line {n}: {entry.id} is not in the plan")
        else:
            index[entry.id] = entry.to_dict()
    rows, wer = [], {}
    for job in jobs:
        r = index.get(job["id"])
        try:
            folder = conversation_dir(run, job["id"])
        except RunFolderError:  # a link inside the run: the row stays, validation reports it
            rows.append(r or IndexLine(id=job["id"], status="pending", scenario=job["scenario"],
                                                roles=job["roles"]).to_dict())
            continue
        if r is None or r["status"] == "ok":
            meta = read_meta(folder)
            if isinstance(meta, dict) and isinstance(meta.get("wer"), (int, float)):
                wer[job["id"]] = meta["wer"]
        if r is None:
            line = IndexLine(id=job["id"], status="pending", scenario=job["scenario"], roles=job["roles"])
            meta, error = read_meta(folder), read_error(folder)
            if isinstance(meta, dict):
                line.status = "ok"
                try:
                    checked = ConversationMeta.from_dict(meta)
                    line.duration_s, line.turns = checked.duration_s, checked.turns
                except SchemaError as e:  # complete, but its figures are not read from a damaged meta.json
                    damage.append(f"{job['id']}: meta.json: {e}")
            elif error is not None:
                line.status, line.error = "failed", error
            r = line.to_dict()
        rows.append(r)
    if info.get("ended_at") is None:
        state = "running or killed"
    elif info.get("stopped"):
        state = str(info["stopped"])
    else:
        state = "complete"
    return {"run": str(run), "state": state, "info": info, "conversations": rows, "damage": damage, "wer": wer}
