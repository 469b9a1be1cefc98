"""A run's calls with an agent under test: the figures per agent over the run (`inspect`,
`inspect --json` under `agent_under_test`, the report) and its JUnit XML (`inspect --junit`)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from ..errors import RunFolderError
from ..runfolder.conversation import read_meta
from ..runfolder.names import conversation_dir
from ..runfolder.schema import AgentUnderTest, SchemaError
from .measure import percentile


def records(view: dict) -> dict[str, AgentUnderTest]:
    """conversation id -> its `agent_under_test`, for the complete conversations that have one
    (a damaged record is left out: `inspect --validate` reports it)."""
    run, found = Path(view["run"]), {}
    for r in view["conversations"]:
        if r["status"] != "ok":
            continue
        try:
            meta = read_meta(conversation_dir(run, r["id"]))
            if isinstance(meta, dict) and meta.get("agent_under_test") is not None:
                found[r["id"]] = AgentUnderTest.from_dict(meta["agent_under_test"])
        except (OSError, RunFolderError, SchemaError):
            continue
    return found


def summary(view: dict) -> dict | None:
    """Per agent name: its complete calls, response latency p50/p95 over every reply, barge-ins and yields, talking over, long silences, talk ratio, what
    it heard, and the checks: counts and every failure with its evidence. None when no complete
    conversation had an agent under test."""
    found = records(view)
    if not found:
        return None
    agents: dict[str, dict] = {}
    for cid, rec in found.items():
        a = agents.setdefault(rec.agent_name, {"calls": 0, "latencies": [], "yields": [], "talk_over": 0,
                                               "long_silences": 0, "talk_ratio": [], "heard_wer": [],
                                               "checks": {"pass": 0, "fail": 0, "not measured": 0}, "failed": []})
        a["calls"] += 1
        a["latencies"] += list(rec.response_latency_s)
        a["yields"] += list(rec.yield_s)
        a["talk_over"] += len(rec.raw.get("talk_over") or [])
        a["long_silences"] += len(rec.raw.get("long_silences") or [])
        if isinstance(rec.raw.get("talk_ratio"), (int, float)):
            a["talk_ratio"].append(rec.raw["talk_ratio"])
        if rec.heard_wer is not None:
            a["heard_wer"].append(rec.heard_wer)
        for c in rec.checks:
            a["checks"][c.status] += 1
            if c.status == "fail":
                a["failed"].append({"id": cid, "check": c.name, "evidence": c.evidence})
    out = {}
    for name, a in sorted(agents.items()):
        yielded = [y for y in a["yields"] if y is not None]
        out[name] = {
            "calls": a["calls"],
            "replies": len(a["latencies"]),
            "latency_p50_s": percentile(a["latencies"], 50), "latency_p95_s": percentile(a["latencies"], 95),
            "barge_ins": len(a["yields"]), "yielded": len(yielded), "never_yielded": len(a["yields"]) - len(yielded),
            "yield_p50_s": percentile(yielded, 50), "yield_max_s": round(max(yielded), 3) if yielded else None,
            "talk_over": a["talk_over"], "long_silences": a["long_silences"],
            "talk_ratio": round(float(np.mean(a["talk_ratio"])), 3) if a["talk_ratio"] else None,
            "heard_wer": round(float(np.mean(a["heard_wer"])), 4) if a["heard_wer"] else None,
            "checks": a["checks"], "failed_checks": a["failed"],
        }
    return out


def failed(view: dict) -> bool:
    """Whether an expectation of an agent under test failed in this run."""
    return any(not rec.passed for rec in records(view).values())


def junit(view: dict) -> tuple[str, int]:
    """The run as JUnit XML (one suite per scenario; a test case per conversation, "call", and
    one per expectation checked in it) and how many test cases failed. A conversation that failed
    or never ran fails its "call"; a check that could not be measured is skipped, with why."""
    found = records(view)
    suites: dict[str, list[ET.Element]] = {}
    failures = 0
    for r in view["conversations"]:
        cls = f"synthconv.{r['scenario']}.{r['id']}"
        cases = suites.setdefault(r["scenario"], [])
        call = ET.Element("testcase", classname=cls, name="call")
        if r["status"] == "failed":
            ET.SubElement(call, "failure", message=str(r.get("error") or "failed")).text = str(r.get("error") or "")
            failures += 1
        elif r["status"] != "ok":
            ET.SubElement(call, "failure", message="not run (the run did not finish)")
            failures += 1
        cases.append(call)
        rec = found.get(r["id"])
        for c in rec.checks if rec else ():
            case = ET.Element("testcase", classname=cls, name=c.name)
            if c.status == "fail":
                ET.SubElement(case, "failure", message=c.evidence).text = c.evidence
                failures += 1
            elif c.status == "not measured":
                ET.SubElement(case, "skipped", message=f"not measured: {c.evidence}")
            else:
                ET.SubElement(case, "system-out").text = c.evidence
            cases.append(case)
    root = ET.Element("testsuites", name=f"synthconv {Path(view['run']).name}")
    total = {"tests": 0, "failures": 0, "skipped": 0}
    for scenario, cases in sorted(suites.items()):
        counts = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
                  "skipped": sum(c.find("skipped") is not None for c in cases)}
        suite = ET.SubElement(root, "testsuite", {"name": scenario, **{k: str(v) for k, v in counts.items()}, "errors": "0"})
        suite.extend(cases)
        for k in total:
            total[k] += counts[k]
    root.attrib.update({k: str(v) for k, v in total.items()}, errors="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n", failures
