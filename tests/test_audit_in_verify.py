"""`verify --audit FILE`: the audit's result is a section of verify's report, checked against the
shadow's own ledger (a refuted or void audit fails verify, one at another ε warns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_bad_input import assert_one_clear_line, dbsynth


@pytest.fixture(scope="module")
def audited(chinook_sqlite, tmp_path_factory):
    """A real audit's JSON (small: 8 canaries, one run) and a shadow made at the same ε."""
    work = tmp_path_factory.mktemp("audited")
    result = dbsynth("audit", chinook_sqlite, "--epsilon", "1", "--canaries", "8", "--runs", "1", "--seed", "4",
                     "--json")
    assert result.returncode == 0, result.stderr
    audit_json = work / "audit.json"
    audit_json.write_text(result.stdout, encoding="utf-8")
    shadow = f"sqlite:///{work / 'shadow.db'}"
    made = dbsynth("run", chinook_sqlite, shadow, "--epsilon", "1", "--public", "suggested")
    assert made.returncode == 0, made.stderr
    return chinook_sqlite, shadow, audit_json, json.loads(result.stdout)


def _verify(source, shadow, audit_file: Path, report: Path, *extra):
    return dbsynth("verify", source, shadow, "--hard-only", "--audit", str(audit_file), "--report", str(report),
                   *extra)


def test_the_audit_is_a_section_of_every_report_form(audited, tmp_path):
    source, shadow, audit_json, data = audited
    result = _verify(source, shadow, audit_json, tmp_path / "r", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["audit"]["epsilon_lower"] == data["epsilon_lower"]
    assert printed["audit"]["canaries"] == 8 and printed["audit"]["unit"] == "Customer"
    assert not [f for f in printed["findings"] if f["check"] == "audit"]  # same claim, not refuted
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    section = page[page.index("<section id=audit>"):]
    section = section[:section.index("</section>")]
    assert "Empirical privacy audit" in section and f"{data['epsilon_lower']:.3f}" in section
    assert all(a["attack"] in section for a in data["attacks"])
    assert "no leak beyond the claim found" in section
    markdown = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "## Empirical privacy audit" in markdown and f"{data['epsilon_lower']:.3f}" in markdown
    assert json.loads((tmp_path / "r" / "report.json").read_text())["audit"]["runs"] == 1
    text = _verify(source, shadow, audit_json, tmp_path / "t")
    assert "audit: ε_lower" in text.stdout and "no leak beyond the claim found" in text.stdout


def test_a_refuted_audit_fails_verify(audited, tmp_path):
    source, shadow, audit_json, data = audited
    # The audit's verdict is what verify gates on: the same result with a bound above the claim.
    refuted = dict(data, epsilon_lower=2.5, refuted=True, overall=dict(data["overall"], epsilon_lower=2.5))
    path = tmp_path / "refuted.json"
    path.write_text(json.dumps(refuted), encoding="utf-8")
    result = _verify(source, shadow, path, tmp_path / "r", "--json")
    assert result.returncode == 1
    findings = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "audit"]
    assert len(findings) == 1 and findings[0]["hard"] and "refuted" in findings[0]["detail"]
    assert "claim refuted" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


def test_an_audit_at_another_epsilon_warns_and_a_void_one_fails(audited, tmp_path):
    source, shadow, audit_json, data = audited
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(data, epsilon=4.0)), encoding="utf-8")
    result = _verify(source, shadow, other, tmp_path / "r", "--json")
    assert result.returncode == 0, result.stderr
    findings = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "audit"]
    assert len(findings) == 1 and not findings[0]["hard"] and "ε = 4" in findings[0]["detail"]
    void = tmp_path / "void.json"
    void.write_text(json.dumps(dict(data, guarantee_void=True, noise="seeded (TEST ONLY)")), encoding="utf-8")
    result = _verify(source, shadow, void, tmp_path / "v", "--json")
    assert result.returncode == 1
    assert any("no guarantee" in f["detail"] for f in json.loads(result.stdout)["findings"] if f["check"] == "audit")


@pytest.mark.parametrize("content", ["not json", json.dumps({"epsilon": 1})])
def test_a_file_that_is_not_an_audit_is_refused_before_any_connection(tmp_path, content):
    path = tmp_path / "audit.json"
    path.write_text(content, encoding="utf-8")
    missing = f"sqlite:///{tmp_path / 'nope.sqlite'}"  # exit 3 if verify had tried to open it
    result = dbsynth("verify", missing, missing, "--audit", str(path))
    assert_one_clear_line(result, 2, "not the output of `dbsynth audit --json`")
    assert_one_clear_line(dbsynth("verify", missing, missing, "--audit", str(tmp_path / "absent.json")), 2,
                          "cannot read")
