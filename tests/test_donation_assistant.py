"""The giving assistant: staff write a tree of questions that cannot strand a visitor; visitors walk it with
buttons to a campaign's gift dialog, and every step and the gift that follows are counted.
"""
from __future__ import annotations

import datetime

import pytest

from access import roles as R
from core.clock import utcnow
from donations import analytics, assistant, campaigns, wallet
from tests.donations_support import campaign, key_of
from tests.support import error_text


def tree_form(nodes: list[tuple[str, dict, list[tuple[dict, str]]]], *, locales=("en", "ru"), default="en",
              enabled=True) -> dict:
    """The editor's fields for `nodes`: (key, question per locale, [(label per locale, target)])."""
    form: dict = {"nodes": str(len(nodes)), "default_locale": default, "locales": list(locales),
                  "shown_locales": list(locales), "enabled": "1" if enabled else ""}
    for i, (key, question, buttons) in enumerate(nodes):
        form[f"n{i}_key"] = key
        for code, text in question.items():
            form[f"n{i}_q_{code}"] = text
        for j, (label, to) in enumerate(buttons):
            for code, text in label.items():
                form[f"n{i}_b{j}_{code}"] = text
            form[f"n{i}_b{j}_to"] = to
            form[f"n{i}_b{j}_pos"] = str(j)
    return form


def good_tree(water, school) -> list:
    return [
        ("start", {"en": "What would you like to support?", "ru": "Что вы хотите поддержать?"},
         [({"en": "Water", "ru": "Воду"}, f"campaign:{water['_id']}"),
          ({"en": "Children", "ru": "Детей"}, "node:kids")]),
        ("kids", {"en": "Which need?"},
         [({"en": "School books"}, f"campaign:{school['_id']}"),
          ({"en": "Clean water at school"}, f"campaign:{water['_id']}")]),
    ]


@pytest.mark.gen_test(timeout=60)
async def test_the_editor_refuses_a_loop_a_dead_end_and_a_campaign_of_another_space(services, factory, browser, db):
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    water = await campaign(services, factory, space=space, title={"en": "Water"})
    school = await campaign(services, factory, space=space, title={"en": "School"}, category="education")
    closed = await campaign(services, factory, space=space, title={"en": "Closed"}, state=campaigns.CLOSED)
    foreign = await campaign(services, factory, title={"en": "Foreign"})
    b = browser(locale="en")
    await b.sign_in(admin["login"], factory.PASSWORD)
    url = f"/admin/spaces/{space['_id']}/assistant"
    assert (await b.get(url)).status_code == 200
    start_q = {"en": "What?"}
    loop = [("start", start_q, [({"en": "Water"}, f"campaign:{water['_id']}"), ({"en": "More"}, "node:two")]),
            ("two", {"en": "Two?"}, [({"en": "Again"}, "node:start"), ({"en": "School"}, f"campaign:{school['_id']}")])]
    dead_end = [("start", start_q, [({"en": "Water"}, f"campaign:{water['_id']}"), ({"en": "Nothing"}, "")])]
    one_answer = [("start", start_q, [({"en": "Water"}, f"campaign:{water['_id']}")])]
    for nodes, message in (
            (loop, "Answer 1 of question 2 leads back to a question already asked."),
            (dead_end, "Answer 2 of question 1 leads nowhere: choose a question or a campaign."),
            ([("start", start_q, [({"en": "Water"}, f"campaign:{water['_id']}"),
                                  ({"en": "Elsewhere"}, f"campaign:{foreign['_id']}")])],
             "Answer 2 of question 1 leads to a campaign of another space or one that does not exist."),
            ([("start", start_q, [({"en": "Water"}, f"campaign:{water['_id']}"),
                                  ({"en": "Closed"}, f"campaign:{closed['_id']}")])],
             "Answer 2 of question 1 leads to a campaign that does not take gifts now."),
            (one_answer, "Question 1 needs from 2 to 6 answers."),
            ([("start", {"ru": "Что?"}, good_tree(water, school)[0][2])],
             "Question 1 has no text in the default language."),
            (good_tree(water, school) + [("lost", {"en": "Nobody comes here"},
                                          [({"en": "A"}, f"campaign:{water['_id']}"),
                                           ({"en": "B"}, f"campaign:{school['_id']}")])],
             "No answer leads to question 3.")):
        r = await b.post(url, tree_form(nodes))
        assert r.status_code == 400 and error_text(r.text) == message, (message, error_text(r.text))
    assert await db[assistant.TREES].count_documents({}) == 0
    r = await b.post(url, tree_form(good_tree(water, school)))
    assert r.status_code == 302, error_text(r.text)
    saved = await assistant.get(db, space["_id"])
    assert [n["key"] for n in saved["nodes"]] == ["start", "kids"]
    assert saved["nodes"][0]["buttons"][1] == {"label": {"en": "Children", "ru": "Детей"}, "node": "kids"}
    assert saved["nodes"][1]["buttons"][0]["campaign_id"] == school["_id"]
    assert (saved["locales"], saved["default_locale"], saved["enabled"]) == (["ru", "en"], "en", True)
    # Positions reorder the answers; the page states where Russian falls back to English.
    form = tree_form(good_tree(water, school))
    form["n0_b0_pos"], form["n0_b1_pos"] = "1", "0"
    assert (await b.post(url, form)).status_code == 302
    saved = await assistant.get(db, space["_id"])
    assert [b_["label"]["en"] for b_ in saved["nodes"][0]["buttons"]] == ["Children", "Water"]
    page = (await b.get(url)).text
    assert "Question 2 is shown in the default language to visitors reading Русский." in page
    assert "assistant-stale" not in page
    # A campaign it leads to closes: staff are told what to change.
    await db.donation_campaigns.update_one({"_id": school["_id"]}, {"$set": {"state": campaigns.CLOSED}})
    page = (await b.get(url)).text
    assert "The saved assistant needs a change before it is saved again: Answer 1 of question 2 leads to a " \
           "campaign that does not take gifts now." in page
    await db.donation_campaigns.update_one({"_id": school["_id"]}, {"$set": {"state": campaigns.OPEN}})
    # A question emptied, and the answer that led to it changed: it is gone.
    emptied = tree_form([good_tree(water, school)[0], ("kids", {}, [])])
    emptied["n0_b1_to"] = f"campaign:{school['_id']}"
    assert (await b.post(url, emptied)).status_code == 302
    saved = await assistant.get(db, space["_id"])
    assert [n["key"] for n in saved["nodes"]] == ["start"]
    # Another space's admin cannot read or change it.
    other_admin = await factory.member(R.SPACE_ADMIN, space=await factory.space())
    b2 = browser(locale="en")
    await b2.sign_in(other_admin["login"], factory.PASSWORD)
    assert (await b2.get(url)).status_code == 403
    assert (await b2.post(url, tree_form(loop))).status_code == 403
    assert await assistant.get(db, space["_id"]) == saved


@pytest.mark.gen_test(timeout=60)
async def test_a_walk_reaches_a_gift_dialog_and_every_step_and_the_gift_are_counted(services, factory, browser, db):
    space = await factory.space()
    admin = await factory.member(R.SPACE_ADMIN, space=space)
    water = await campaign(services, factory, space=space, title={"en": "Water"})
    school = await campaign(services, factory, space=space, title={"en": "School"}, category="education")
    values = await assistant.clean(db, space, {"locales": ["en", "ru"], "default_locale": "en", "enabled": True,
                                               "nodes": [{"key": k, "question": q,
                                                          "buttons": [{"label": lb, "to": to, "position": i}
                                                                      for i, (lb, to) in enumerate(bs)]}
                                                         for k, q, bs in good_tree(water, school)]})
    await assistant.save(db, admin, space, values)
    donor = await factory.user(locale="ru")
    await wallet.credit(db, donor["_id"], "EUR", 10000, key="topup-test")
    b = browser(locale="ru")
    await b.sign_in(donor["login"], factory.PASSWORD)
    url = f"/spaces/{space['slug']}/assistant"
    page = await b.get(url)
    assert page.status_code == 200 and "Что вы хотите поддержать?" in page.text and "Детей" in page.text
    assert 'name="back"' not in page.text
    assert (await b.get(url)).status_code == 200     # a reload: the same walk, counted once
    r = await b.post(url, {"trail": "start", "choice": "1"})
    assert r.status_code == 302 and r.headers["location"] == f"{url}?trail=start.kids"
    page = await b.get(r.headers["location"])
    # Russian text missing: the default language's.
    assert "Which need?" in page.text and 'name="back"' in page.text
    r = await b.post(url, {"trail": "start.kids", "back": "1"})
    assert r.headers["location"] == f"{url}?trail=start"
    r = await b.post(url, {"trail": "start.kids", "choice": "9"})
    assert r.status_code == 400
    r = await b.post(url, {"trail": "start.kids", "choice": "0"})
    assert r.status_code == 302 and r.headers["location"] == f"/campaigns/{school['_id']}?give=1&src=assistant"
    page = await b.get(r.headers["location"])
    assert 'name="source" value="assistant"' in page.text and "autofocus" in page.text
    r = await b.post(f"/campaigns/{school['_id']}/give",
                     {"key": key_of(page.text), "currency": "EUR", "amount": "12.50", "method": "wallet",
                      "source": "assistant", "message": ""})
    assert r.status_code == 302, error_text(r.text)
    gift = await db.donations.find_one({"campaign_id": school["_id"]})
    assert (gift["state"], gift["source"], gift["amount"]) == ("confirmed", "assistant", 1250)
    today = utcnow().date()
    stats = await assistant.stats(db, space["_id"], today, today)
    assert stats == {"starts": 1, "completions": 1, "nodes": {"start": 1, "kids": 1},
                     "campaigns": {str(school["_id"]): 1}}
    came = await analytics.from_source(db, space["_id"], assistant.SOURCE, today - datetime.timedelta(days=1), today)
    assert (came.gifts, came.amounts) == ({"EUR": 1}, {"EUR": 1250})
    # A disabled assistant is not shown.
    await db[assistant.TREES].update_one({"space_id": space["_id"]}, {"$set": {"enabled": False}})
    assert (await b.get(url)).status_code == 404
