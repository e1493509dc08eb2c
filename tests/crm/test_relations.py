from hypothesis import given
from hypothesis import strategies as st

from brightsync.crm.relations import related_to, without_leads

CONTACTS = [
    {"id": "c1", "companyId": "co1"},
    {"id": "c2", "companyId": "co1"},
    {"id": "c3", "companyId": None},
]


def opp(oid, *, closed=False, company=None, contacts=(), modified=None):
    return {
        "id": oid,
        "isClosed": closed,
        "companyId": company,
        "contactIds": list(contacts),
        "lastModifiedAt": modified,
    }


def test_contacts_and_their_companies_are_related():
    assert related_to(CONTACTS, []) == {
        "contacts": ["c1", "c2", "c3"],
        "companies": ["co1"],
        "opportunities": [],
    }


def test_contact_opportunity_preferred_over_company_opportunity():
    opps = [
        opp("o-company", company="co1", modified="2024-06-01T00:00:00Z"),
        opp("o-contact", contacts=["c3"], modified="2024-01-01T00:00:00Z"),
    ]
    assert related_to(CONTACTS, opps)["opportunities"] == ["o-contact"]


def test_most_recently_modified_open_opportunity_wins():
    opps = [
        opp("old", contacts=["c1"], modified="2024-01-01T00:00:00Z"),
        opp("new", contacts=["c2"], modified="2024-03-01T12:00:00+02:00"),
        opp("closed", contacts=["c1"], closed=True, modified="2025-01-01T00:00:00Z"),
        opp("naive", contacts=["c1"], modified="2024-02-01T00:00:00"),
    ]
    assert related_to(CONTACTS, opps)["opportunities"] == ["new"]


def test_falls_back_to_company_opportunities():
    opps = [
        opp("a", company="co1", modified="2024-01-01T00:00:00Z"),
        opp("b", company="co1", modified="2024-05-01T00:00:00Z"),
        opp("other", company="co9", modified="2025-05-01T00:00:00Z"),
        opp("other-contact", contacts=["c9"], modified="2025-05-01T00:00:00Z"),
    ]
    assert related_to(CONTACTS, opps)["opportunities"] == ["b"]


def test_closed_only_or_nothing_matched_gives_no_opportunity():
    opps = [opp("x", contacts=["c1"], closed=True), opp("y", closed="true", company="co1")]
    assert related_to(CONTACTS, opps)["opportunities"] == []
    assert related_to([], [opp("z", company="co1")]) == {
        "contacts": [],
        "companies": [],
        "opportunities": [],
    }


def test_unknown_dates_sort_oldest_and_ties_keep_first():
    opps = [opp("undated", contacts=["c1"]), opp("dated", contacts=["c1"], modified=1_700_000_000)]
    assert related_to(CONTACTS, opps)["opportunities"] == ["dated"]
    tie = [opp("first", contacts=["c1"], modified="bad"), opp("second", contacts=["c1"])]
    assert related_to(CONTACTS, tie)["opportunities"] == ["first"]


def test_numeric_ids_and_garbage_are_tolerated():
    contacts = [{"id": 7, "companyId": 3}, None, {"id": True}, {"id": 7}, "x"]
    opps = [{"id": 11, "contactIds": [7], "lastModifiedAt": "2024-01-01T00:00:00Z"}, None, 5]
    assert related_to(contacts, opps) == {
        "contacts": ["7"],
        "companies": ["3"],
        "opportunities": ["11"],
    }
    assert related_to(None, None) == {"contacts": [], "companies": [], "opportunities": []}
    assert related_to(5, "x") == {"contacts": [], "companies": [], "opportunities": []}


ids = st.sampled_from(["c1", "c2", "c3", "c4"])
opps_strategy = st.lists(
    st.builds(
        opp,
        st.text(min_size=1, max_size=5).filter(str.strip),
        closed=st.booleans(),
        company=st.sampled_from([None, "co1", "co2"]),
        contacts=st.lists(ids, max_size=3),
        modified=st.one_of(st.none(), st.datetimes().map(lambda d: d.isoformat())),
    ),
    max_size=8,
)


@given(opps_strategy)
def test_chosen_opportunity_is_open_and_related(opps):
    result = related_to(CONTACTS, opps)
    assert len(result["opportunities"]) <= 1
    if result["opportunities"]:
        chosen = [o for o in opps if o["id"].strip() == result["opportunities"][0]]
        assert any(not o["isClosed"] for o in chosen)
    open_related = [
        o
        for o in opps
        if not o["isClosed"]
        and (set(o["contactIds"]) & {"c1", "c2", "c3"} or o["companyId"] == "co1")
    ]
    assert bool(result["opportunities"]) == bool(open_related)


def test_leads_are_related_only_when_there_are_any():
    leads = [{"id": "ld_1"}, {"id": 2}, {"id": "ld_1"}, {"id": None}, "x"]
    assert related_to(CONTACTS[:1], [], leads) == {
        "contacts": ["c1"],
        "companies": ["co1"],
        "opportunities": [],
        "leads": ["ld_1", "2"],
    }
    # No lead: the payload a connector without leads always got.
    assert "leads" not in related_to(CONTACTS, [], [])
    assert "leads" not in related_to(CONTACTS, [], None)


def test_a_converted_lead_gives_way_and_the_key_goes_with_the_last():
    related = {"contacts": ["c9"], "companies": [], "opportunities": [], "leads": ["ld_1", "ld_2"]}
    assert without_leads(related, ["ld_1"])["leads"] == ["ld_2"]
    assert without_leads(related, ["ld_1", 2, "ld_2"]) == {
        "contacts": ["c9"],
        "companies": [],
        "opportunities": [],
    }
    assert without_leads(None, ["ld_1"]) == {}
