"""Reading lead files: JSON Lines and CSV, detected by extension or content."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadsync.errors import LeadError, LeadsyncError
from leadsync.sync.leadfile import Columns, load_map, read_leads

HUBSPOT_EXPORT = (
    "Record ID,First Name,Job Title,Number of Employees,Email,Lifecycle Stage,Became a Customer Date,Won\n"
    "101,Jane,CEO,120,jane@acme.io,customer,2026-05-02,yes\n"
    '102,"Bob, Jr.",Student,,bob@gmail.com,lead,,no\n'
    "\n"
    "103,Ann,VP Sales,300,ann@x.io,lead,,\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_crm_export_reads_through_a_shipped_map(tmp_path):
    path = write(tmp_path / "contacts.csv", HUBSPOT_EXPORT)
    leads = list(read_leads(path, columns=Columns(outcome="Won", rename=load_map(["hubspot"]))))
    assert [lead.id for lead in leads] == ["101", "102", "103"]
    jane, bob, ann = leads
    assert jane.properties == {
        "first_name": "Jane",
        "title": "CEO",
        "company_size": "120",
        "email": "jane@acme.io",
        "lifecycle_stage": "customer",
    }
    assert jane.outcome.converted is True
    assert jane.outcome.converted_at == datetime(2026, 5, 2, tzinfo=UTC)
    assert bob.properties["first_name"] == "Bob, Jr." and "company_size" not in bob.properties
    assert bob.outcome.converted is False
    assert ann.outcome is None
    assert jane.events == ()


def test_format_follows_content_when_the_extension_says_nothing(tmp_path):
    csv_path = write(tmp_path / "export.txt", "\nid;title;converted\nc1;CEO;1\n")
    jsonl = write(tmp_path / "leads.txt", json.dumps({"id": "j1", "properties": {"x": 1}}) + "\n")
    [from_csv] = read_leads(csv_path, columns=Columns(outcome="converted"))
    [from_jsonl] = read_leads(jsonl)
    assert from_csv.id == "c1" and from_csv.properties == {"title": "CEO"}
    assert from_csv.outcome.converted is True
    assert from_jsonl.id == "j1" and from_jsonl.properties == {"x": 1}


def test_a_utf8_bom_from_a_spreadsheet_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("id,title\nc1,Directeur général\n".encode("utf-8-sig"))
    [lead] = read_leads(path)
    assert lead.id == "c1" and lead.properties == {"title": "Directeur général"}


def test_renames_by_option_and_outcome_columns(tmp_path):
    path = write(
        tmp_path / "leads.csv", 'Key,Size,Amount,Closed\nk1,40,"1,200.50",2026-03-01T09:00:00Z\n'
    )
    renames = load_map(
        ["Key=id", "Size=company_size", "Amount=outcome.amount", "Closed=outcome.won_at"]
    )
    [lead] = read_leads(path, columns=Columns(rename=renames))
    assert lead.id == "k1" and lead.properties == {"company_size": "40"}
    assert lead.outcome.amount == 1200.5
    assert lead.outcome.won_at == datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "columns", "message"),
    [
        (
            "name,title\nx,CEO\n",
            Columns(),
            "leads.csv:1: no column 'id' (the columns are: name, title); name the right one with --id-column",
        ),
        ("id,won\nx,1\n", Columns(outcome="converted"), "leads.csv:1: no column 'converted'"),
        ("id,title\nc1,CEO\nc2\n", Columns(), "leads.csv:3: 1 values for 2 columns"),
        (
            "id,title\nc1,CEO\n,CTO\n",
            Columns(),
            "leads.csv:3: column 'id': empty (every row needs an id)",
        ),
        (
            "id,won\nc1,1\nc2,maybe\n",
            Columns(outcome="won"),
            "leads.csv:3 (lead c2): column 'won': 'maybe' is not 0/1, yes/no or true/false",
        ),
        (
            'id,note,won\nc1,"two\nlines",1\nc2,x,2\n',
            Columns(outcome="won"),
            "leads.csv:4 (lead c2): column 'won'",
        ),
        (
            "id,closed\nc1,May 2\n",
            Columns(rename={"closed": "outcome.won_at"}),
            "leads.csv:2 (lead c1): column 'closed': 'May 2' is not an ISO 8601 date",
        ),
        (
            "id,x\nc1,1\n",
            Columns(rename={"x": "outcome.won"}),
            "leads.csv:1: column 'x': 'outcome.won' is not an outcome key",
        ),
        (
            "id,a,b\nc1,1,2\n",
            Columns(rename={"a": "title", "b": "title"}),
            "leads.csv:1: columns 'a' and 'b' both give 'title'",
        ),
    ],
)
def test_bad_csv_names_file_line_and_column(tmp_path, text, columns, message):
    path = write(tmp_path / "leads.csv", text)
    with pytest.raises(LeadError) as caught:
        list(read_leads(path, columns=columns))
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_skip_invalid_rows_carry_on(tmp_path):
    path = write(tmp_path / "leads.csv", "id,won\nc1,1\nc2,perhaps\nc3,0\n")
    errors: list[LeadError] = []
    leads = list(read_leads(path, errors.append, Columns(outcome="won")))
    assert [lead.id for lead in leads] == ["c1", "c3"]
    assert [e.where for e in errors] == [f"{path}:3 (lead c2)"]


def test_map_files_and_their_faults(tmp_path):
    good = write(tmp_path / "map.yaml", "Job Title: title\nRecord ID: id\n")
    assert load_map([str(good), "Job Title=job"]) == {"Job Title": "job", "Record ID": "id"}
    bad = write(tmp_path / "bad.yaml", "Job Title: [title\n")
    with pytest.raises(LeadsyncError, match=r"bad.yaml:2:1: not valid YAML"):
        load_map([str(bad)])
    with pytest.raises(
        LeadsyncError,
        match=r"--map 'nothing': no such file, and not a column=name pair \(shipped maps: hubspot, salesforce\)",
    ):
        load_map(["nothing"])
    with pytest.raises(LeadsyncError, match="write it as column=name"):
        load_map(["=title"])
