"""Registration forms: every field type, conditions, files, versions, the builder's rules and pages,
the profile, and answers that stay readable after the form is edited."""
import asyncio
import io
import re
import zipfile

import pytest

from access import roles as R
from accounts import profile_fields
from events.editing import EditError
from registration import form_edit, form_files
from registration import forms as F
from tests.support import translated
from tests.test_slides import png

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def upload(name: str, body: bytes) -> dict:
    return {"filename": name, "body": body, "content_type": "application/octet-stream"}


def opt(value, en, ru=None):
    return {"value": value, "label": {"en": en, "ru": ru or en}}


def every_type() -> list[dict]:
    """One field of every type (ids say which), in a form with locales ru, en, de (default ru)."""
    def f(fid, kind, en, ru, **more):
        return {"id": fid, "type": kind, "label": {"en": en, "ru": ru}, "required": True, **more}
    return [
        f("f_section", F.SECTION, "About you", "О вас", required=False),
        f("f_name", F.TEXT, "Name", "Имя", max_length=20, profile_key="name"),
        f("f_bio", F.LONG_TEXT, "Bio", "О себе", required=False),
        f("f_email", F.EMAIL, "Email", "Почта", profile_key="email"),
        f("f_phone", F.PHONE, "Phone", "Телефон", profile_key="phone"),
        f("f_age", F.NUMBER, "Age", "Возраст", min=14, max=120),
        f("f_born", F.DATE, "Birthday", "День рождения", required=False),
        f("f_country", F.COUNTRY, "Country", "Страна", profile_key="country"),
        f("f_role", F.SINGLE, "Role", "Роль", options=[opt("student", "Student", "Студент"),
                                                        opt("teacher", "Teacher", "Преподаватель")]),
        f("f_topics", F.MULTIPLE, "Topics", "Темы", options=[opt("ai", "AI"), opt("math", "Maths", "Математика")]),
        f("f_news", F.CHECKBOX, "Newsletter", "Рассылка", required=False),
        f("f_terms", F.CONSENT, "Terms", "Условия", consent={"text": {"en": "I agree", "ru": "Я согласен"}}),
        f("f_cv", F.FILE, "CV", "Резюме", extensions=["pdf", "docx"], max_bytes=200_000),
    ]


GOOD = {"f_name": ["Anna"], "f_bio": [""], "f_email": ["Anna@Example.org"], "f_phone": ["+371 2000-0000"],
        "f_age": ["33"], "f_born": ["1990-05-17"], "f_country": ["lv"], "f_role": ["teacher"],
        "f_topics": ["math", "ai"], "f_news": ["yes"], "f_terms": ["yes"], "f_unknown": ["ignored"]}


async def make_form(db, factory, fields=None, locales=("ru", "en", "de")):
    event = await factory.event(locales=locales)
    admin = await factory.member(R.EVENT_ADMIN, event=event)
    form = await form_edit.save(db, admin, event, fields if fields is not None else every_type(),
                                expected_version=0)
    return event, admin, form


def errors_of(form, raw, files=None) -> dict:
    with pytest.raises(F.FormErrors) as exc:
        F.validate(form, raw, files or {}, submitted_version=form["version"])
    return exc.value.errors


@pytest.mark.gen_test
async def test_every_field_type_accepts_a_valid_answer_and_stores_its_version(db, factory, services):
    event, admin, form = await make_form(db, factory)
    user = await factory.user()
    answers = await F.accept(db, services, form, GOOD, {"f_cv": [upload("cv.pdf", PDF)]},
                             submitted_version=form["version"], owner_id=user["_id"])
    values = {k: a["value"] for k, a in answers.items()}
    assert values["f_email"] == "anna@example.org" and values["f_country"] == "LV"
    assert values["f_age"] == 33 and values["f_born"] == "1990-05-17"
    assert values["f_topics"] == ["ai", "math"]          # in the form's order
    assert values["f_news"] is True and values["f_terms"] == {"agreed": True, "version": 1}
    assert "f_unknown" not in answers and "f_section" not in answers and "f_bio" not in answers
    assert all(a["v"] == 1 for a in answers.values())
    stored = await form_files.describe(db, values["f_cv"]["file"])
    assert stored["owner_id"] == user["_id"] and stored["content_type"] == "application/pdf"
    assert await form_files.read(db, stored) == PDF
    # Readable in the reader's language, with the default locale as the fallback.
    text = dict(F.readable(form, answers, "ru"))
    assert text["Роль"] == "Преподаватель" and text["Темы"] == "AI; Математика" and text["Страна"] == "Латвия"
    assert dict(F.readable(form, answers, "de"))["Роль"] == "Преподаватель"


@pytest.mark.gen_test
@pytest.mark.parametrize("field, value, message, params", [
    ("f_name", "x" * 21, F.TOO_LONG, {"max": 20}),
    ("f_email", "not-an-address", F.BAD_EMAIL, {}),
    ("f_phone", "call me", F.BAD_PHONE, {}),
    ("f_phone", "+1 23", F.BAD_PHONE, {}),
    ("f_age", "thirty", F.BAD_NUMBER, {}),
    ("f_age", "7", F.BELOW_MIN, {"min": 14}),
    ("f_age", "121", F.ABOVE_MAX, {"max": 120}),
    ("f_born", "17.05.1990", F.BAD_DATE, {}),
    ("f_born", "1990-02-30", F.BAD_DATE, {}),
    ("f_country", "XX", F.BAD_COUNTRY, {}),
    ("f_role", "admin", F.BAD_CHOICE, {}),
    ("f_topics", "cooking", F.BAD_CHOICE, {}),
    ("f_name", "", F.REQUIRED, {}),
    ("f_role", "", F.REQUIRED_CHOICE, {}),
    ("f_terms", "", F.REQUIRED_CONSENT, {}),
])
async def test_every_field_type_refuses_a_bad_answer_with_a_translated_message(db, factory, services,
                                                                                field, value, message, params):
    event, admin, form = await make_form(db, factory)
    raw = {**GOOD, field: [value]}
    errors = errors_of(form, raw, {"f_cv": [upload("cv.pdf", PDF)]})
    assert errors == {field: (message, params)}
    for locale in ("ru", "de"):
        shown = services.i18n.gettext(locale)(message) % params
        assert shown and shown != message % params, (locale, message)
    # Nothing was written: no file stored for a refused submission.
    user = await factory.user()
    with pytest.raises(F.FormErrors):
        await F.accept(db, services, form, raw, {"f_cv": [upload("cv.pdf", PDF)]},
                       submitted_version=form["version"], owner_id=user["_id"])
    assert await db.registration_files.count_documents({}) == 0
    assert await db.registration_file_chunks.count_documents({}) == 0


@pytest.mark.gen_test
async def test_a_required_checkbox_must_be_ticked_and_a_missing_file_is_required(db, factory):
    fields = every_type()
    fields[10]["required"] = True
    event, admin, form = await make_form(db, factory, fields)
    errors = errors_of(form, {**GOOD, "f_news": []})
    assert errors == {"f_news": (F.REQUIRED_CHECK, {}), "f_cv": (F.REQUIRED_FILE, {})}


@pytest.mark.gen_test
@pytest.mark.parametrize("name, body, message", [
    ("cv.exe", PDF, F.BAD_FILE_TYPE),                  # extension not allowed
    ("cv.pdf", png((1, 2, 3)), F.FILE_CONTENT_MISMATCH),  # the name says PDF, the bytes are PNG
    ("cv.docx", PDF, F.FILE_CONTENT_MISMATCH),
    ("cv.pdf", b"<script>alert(1)</script>", F.FILE_CONTENT_MISMATCH),
    ("cv.pdf", PDF + b"0" * 200_001, F.FILE_TOO_LARGE),
    ("cv.pdf", b"", F.FILE_EMPTY),
])
async def test_files_are_checked_by_extension_content_and_size(db, factory, services, name, body, message):
    event, admin, form = await make_form(db, factory)
    errors = errors_of(form, GOOD, {"f_cv": [upload(name, body)]})
    assert list(errors) == ["f_cv"]
    assert errors["f_cv"][0] == message
    for locale in ("ru", "he"):
        shown = translated(services, locale, errors["f_cv"][0], **errors["f_cv"][1])
        assert shown and "%(" not in shown
    # A .docx whose content is a Word document passes.
    F.validate(form, GOOD, {"f_cv": [upload("cv.docx", docx())]}, submitted_version=form["version"])


@pytest.mark.gen_test
async def test_a_conditional_field_is_required_only_when_shown_and_dropped_when_hidden(db, factory):
    fields = [
        {"id": "f_role", "type": F.SINGLE, "label": {"ru": "Роль"}, "required": True,
         "options": [opt("student", "Student", "Студент"), opt("teacher", "Teacher", "Учитель")]},
        {"id": "f_school", "type": F.TEXT, "label": {"ru": "Школа"}, "required": True,
         "condition": {"field": "f_role", "values": ["teacher"]}},
        {"id": "f_subject", "type": F.TEXT, "label": {"ru": "Предмет"}, "required": True,
         "condition": {"field": "f_role", "values": ["teacher"]}},
    ]
    event, admin, form = await make_form(db, factory, fields)
    # Hidden: not required, and a value sent for it anyway is dropped.
    answers = F.validate(form, {"f_role": ["student"], "f_school": ["Forged"]}, {},
                         submitted_version=form["version"])
    assert set(answers) == {"f_role"}
    # Shown: required.
    errors = errors_of(form, {"f_role": ["teacher"], "f_subject": ["Maths"]})
    assert errors == {"f_school": (F.REQUIRED, {})}
    answers = F.validate(form, {"f_role": ["teacher"], "f_school": ["No. 5"], "f_subject": ["Maths"]}, {},
                         submitted_version=form["version"])
    assert answers["f_school"]["value"] == "No. 5"
    assert F.shown_fields(form, {"f_role": ["student"]}) == ["f_role"]


@pytest.mark.gen_test
async def test_a_stale_or_forged_form_version_is_refused_and_nothing_is_written(db, factory, services):
    event, admin, form = await make_form(db, factory)
    user = await factory.user()
    for version in (form["version"] - 1, form["version"] + 1, "abc", None):
        with pytest.raises(F.FormErrors) as exc:
            await F.accept(db, services, form, GOOD, {"f_cv": [upload("cv.pdf", PDF)]},
                           submitted_version=version, owner_id=user["_id"])
        assert exc.value.errors == {F.FORM_KEY: (F.STALE_FORM, {})}
    assert await db.registration_files.count_documents({}) == 0
    assert services.i18n.gettext("ru")(F.STALE_FORM) != F.STALE_FORM


@pytest.mark.gen_test
@pytest.mark.parametrize("change, message", [
    (lambda fs: fs[1].update(type="signature"), form_edit.UNKNOWN_TYPE),
    (lambda fs: fs[1].update(condition={"field": "f_role", "values": ["teacher"]}), form_edit.BAD_CONDITION),  # later
    (lambda fs: fs[9].update(condition={"field": "f_missing", "values": ["x"]}), form_edit.BAD_CONDITION),
    (lambda fs: fs[9].update(condition={"field": "f_name", "values": ["Anna"]}), form_edit.BAD_CONDITION),  # text
    (lambda fs: fs[9].update(condition={"field": "f_role", "values": ["nobody"]}), form_edit.BAD_CONDITION),
    (lambda fs: fs[2].update(id="f_name"), form_edit.DUPLICATE_ID),
    (lambda fs: fs[1].update(label={"en": "Name only in English"}), form_edit.NO_LABEL),
    (lambda fs: fs[12].update(max_bytes=21 * 1024 * 1024), form_edit.BAD_FILE_SIZE),
    (lambda fs: fs[12].update(extensions=["exe"]), form_edit.NO_EXTENSIONS),
    (lambda fs: fs[8].update(options=[opt(f"o{i}", "x", "x") for i in range(201)]), form_edit.TOO_MANY_OPTIONS),
    (lambda fs: fs[8].update(options=[]), form_edit.NO_OPTIONS),
    (lambda fs: fs[5].update(min=10, max=5), form_edit.BAD_BOUNDS),
    (lambda fs: fs.extend({"id": f"f_x{i}", "type": F.TEXT, "label": {"ru": "x"}} for i in range(90)),
     form_edit.TOO_MANY_FIELDS),
    (lambda fs: fs[12].update(profile_key="cv"), form_edit.BAD_PROFILE_KEY),
    (lambda fs: fs[2].update(profile_key="phone"), form_edit.DUPLICATE_PROFILE_KEY),
])
async def test_a_bad_definition_is_refused_with_a_translated_message_and_nothing_changes(
        db, factory, services, change, message):
    event, admin, form = await make_form(db, factory)
    fields = every_type()
    change(fields)
    audit_before = await db.audit.count_documents({})
    with pytest.raises(EditError) as exc:
        await form_edit.save(db, admin, event, fields, expected_version=form["version"])
    assert exc.value.message == message
    assert await db.forms.find_one({"_id": form["_id"]}) == form
    assert await db.audit.count_documents({}) == audit_before
    for locale in ("ru", "kk"):
        shown = services.i18n.gettext(locale)(message) % exc.value.params
        assert shown != message % exc.value.params


@pytest.mark.gen_test
async def test_two_editors_saving_at_once_the_second_is_told_the_form_changed(db, factory, services, monkeypatch):
    event, admin, form = await make_form(db, factory)
    fields = form["fields"]
    one = [{**f} for f in fields]
    one[1]["label"] = {"ru": "Имя и фамилия"}
    two = form_edit.remove(fields, "f_bio")
    results = await asyncio.gather(
        form_edit.save(db, admin, event, one, expected_version=form["version"]),
        form_edit.save(db, admin, event, two, expected_version=form["version"]),
        return_exceptions=True)
    saved = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, EditError)]
    assert len(saved) == 1 and len(refused) == 1 and refused[0].message == form_edit.CHANGED
    assert (await F.load(db, event["_id"]))["version"] == form["version"] + 1
    # Two processes: the second read the form before the first wrote it, so only the
    # conditional write itself can refuse it.
    stale = await F.load(db, event["_id"])
    three = [{**f} for f in stale["fields"]]
    three[1]["label"] = {"ru": "Фамилия"}
    await form_edit.save(db, admin, event, three, expected_version=stale["version"])

    async def stale_load(*args, **kwargs):
        return stale
    monkeypatch.setattr(F, "load", stale_load)
    with pytest.raises(EditError) as exc:
        await form_edit.save(db, admin, event, form_edit.remove(stale["fields"], "f_bio"),
                             expected_version=stale["version"])
    assert exc.value.message == form_edit.CHANGED
    monkeypatch.undo()
    assert [f["id"] for f in (await F.load(db, event["_id"]))["fields"]] == [f["id"] for f in three]
    # The first save of a new form races on the unique index the same way.
    other = await factory.event()
    results = await asyncio.gather(*(form_edit.save(db, admin, other, [], expected_version=0) for _ in range(2)),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["EditError", "dict"]


@pytest.mark.gen_test(timeout=60)
async def test_a_form_edited_after_100_answers_keeps_every_old_answer_readable(db, factory, services):
    event, admin, form = await make_form(db, factory)
    stored = []
    for i in range(100):
        role = "student" if i % 2 else "teacher"
        raw = {**GOOD, "f_name": [f"Person {i}"], "f_role": [role], "f_age": [str(20 + i % 50)]}
        stored.append(F.validate(form, raw, {"f_cv": [upload("cv.pdf", PDF)]}, submitted_version=form["version"]))
    before = [F.readable(form, a, "ru") for a in stored]

    fields = [dict(f) for f in form["fields"]]
    fields[1]["label"] = {"ru": "ФИО", "en": "Full name"}                             # label changed
    fields[8] = {**fields[8], "options": [o for o in fields[8]["options"] if o["value"] != "teacher"]}  # option gone
    fields = [f for f in fields if f["id"] != "f_country"]                            # field removed
    age = next(f for f in fields if f["id"] == "f_age")
    age.update(type=F.TEXT)                                                           # type changed
    for key in ("min", "max"):
        age.pop(key)
    edited = await form_edit.save(db, admin, event, fields, expected_version=form["version"])
    assert edited["version"] == form["version"] + 1
    assert {f["id"]: f["v"] for f in edited["fields"]}["f_name"] == 2
    assert "f_country:1" in edited["past"] and "f_role:1" in edited["past"] and "f_age:1" in edited["past"]

    for i, answers in enumerate(stored):
        assert sorted(F.readable(edited, answers, "ru")) == sorted(before[i]), i
    text = dict(F.readable(edited, stored[0], "ru"))
    assert text["Имя"] == "Person 0" and text["Роль"] == "Преподаватель" and text["Страна"] == "Латвия"
    # The list's columns: every field ever answered, the removed one last.
    cols = F.columns(edited, "en")
    assert [c["id"] for c in cols][-1] == "f_country" and cols[-1]["removed"]
    cells = dict(zip([c["label"] for c in cols], F.row(edited, cols, stored[0], "en"), strict=True))
    assert cells["Full name"] == "Person 0" and cells["Country"] == "Latvia" and cells["Role"] == "Teacher"
    # New answers use the new versions; the removed option is refused now.
    assert errors_of(edited, {**GOOD, "f_role": ["teacher"]}, {"f_cv": [upload("cv.pdf", PDF)]}) == \
        {"f_role": (F.BAD_CHOICE, {})}


@pytest.mark.gen_test
async def test_consent_keeps_the_version_that_was_agreed(db, factory):
    event, admin, form = await make_form(db, factory)
    answers = F.validate(form, GOOD, {"f_cv": [upload("cv.pdf", PDF)]}, submitted_version=form["version"])
    fields = [dict(f) for f in form["fields"]]
    terms = next(f for f in fields if f["id"] == "f_terms")
    terms["consent"] = {"text": {"ru": "Я согласен с новыми условиями"}, "version": 1}
    edited = await form_edit.save(db, admin, event, fields, expected_version=form["version"])
    new_terms = next(f for f in edited["fields"] if f["id"] == "f_terms")
    assert new_terms["consent"]["version"] == 2
    again = F.validate(edited, GOOD, {"f_cv": [upload("cv.pdf", PDF)]}, submitted_version=edited["version"])
    assert answers["f_terms"]["value"]["version"] == 1 and again["f_terms"]["value"]["version"] == 2


@pytest.mark.gen_test
async def test_the_profile_fills_the_next_form_and_answers_it_when_complete(db, factory, services):
    fields = [f for f in every_type() if f["id"] not in ("f_terms", "f_cv", "f_age", "f_role", "f_topics")]
    event, admin, form = await make_form(db, factory, fields)
    user = await factory.user(name="Anna Berzina", email="anna@example.org")
    answers = F.validate(form, GOOD, {}, submitted_version=form["version"])
    written = await profile_fields.save_values(db, user["_id"], F.profile_values(form, answers))
    assert written == {"phone": "+371 2000-0000", "country": "LV"}     # name and email stay on the account
    account = await db.users.find_one({"_id": user["_id"]})
    raw = F.from_profile(form, account)
    assert raw == {"f_name": ["Anna Berzina"], "f_email": ["anna@example.org"], "f_phone": ["+371 2000-0000"],
                   "f_country": ["LV"]}
    # A required field the profile cannot answer: no one-click, but the form comes pre-filled.
    fields.append({"id": "f_diet", "type": F.TEXT, "label": {"ru": "Питание"}, "required": True})
    form = await form_edit.save(db, admin, event, fields, expected_version=form["version"])
    assert F.from_profile(form, account) is None
    assert F.prefill(form, account)["f_phone"] == ["+371 2000-0000"]
    assert F.prefill(form, None) == {}


@pytest.mark.gen_test
async def test_an_empty_form_accepts_nothing_to_answer(db, factory, services):
    event = await factory.event()
    form = await F.load(db, event["_id"])
    assert form["version"] == 0 and form["fields"] == []
    assert await F.accept(db, services, form, {"x": ["y"]}, {}, submitted_version=None, owner_id=None) == {}


# --- the builder's pages and the download ------------------------------------------------------

def version_of(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


@pytest.mark.gen_test(timeout=60)
async def test_the_builder_adds_edits_orders_and_removes_fields(browser, factory, db):
    event = await factory.event(locales=("en", "ru"))
    admin = await factory.member(R.EVENT_ADMIN, event=event, locale="en")
    b = browser()
    await b.sign_in(admin["login"], factory.PASSWORD)
    base = f"/admin/events/{event['_id']}/form"
    r = await b.get(base)
    assert r.status_code == 200 and 'id="form-fields"' in r.text
    r = await b.post(base, {"op": "add", "version": version_of(r.text), "type": F.SINGLE, "label": "Role"})
    assert r.status_code == 302, r.text
    form = await F.load(db, event["_id"])
    role = form["fields"][0]
    assert role["type"] == F.SINGLE and len(role["options"]) == 2
    r = await b.post(base, {"op": "add", "version": str(form["version"]), "type": F.TEXT, "label": "School"})
    form = await F.load(db, event["_id"])
    school = form["fields"][1]
    # Edit the text field: a condition on the choice, labels in both languages, required.
    r = await b.post(f"{base}?field={school['id']}", {
        "op": "save_field", "version": str(form["version"]), "field": school["id"], "type": F.TEXT,
        "label_en": "School", "label_ru": "Школа", "help_en": "Where you teach", "required": "yes",
        "profile_key": "school", "cond_field": role["id"], "cond_values": [role["options"][1]["value"]],
        "opt_value": [""], "opt_en": [""], "opt_ru": [""], "max_mb": "5"})
    assert r.status_code == 302, r.text
    form = await F.load(db, event["_id"])
    school = form["fields"][1]
    assert school["condition"] == {"field": role["id"], "values": [role["options"][1]["value"]]}
    assert school["label"] == {"en": "School", "ru": "Школа"} and school["required"]
    # A stale version: told, nothing saved.
    r = await b.post(base, {"op": "add", "version": str(form["version"] - 1), "type": F.TEXT, "label": "Late"})
    assert r.status_code == 409 and "changed meanwhile" in r.text
    assert len((await F.load(db, event["_id"]))["fields"]) == 2
    # Moving the conditional field above its condition is refused with the rule's message.
    r = await b.post(base, {"op": f"up:{school['id']}", "version": str(form["version"])})
    assert r.status_code == 400 and "earlier single or multiple choice" in r.text
    # Removal asks first, then removes.
    r = await b.get(f"{base}?remove={school['id']}")
    assert "Remove this field?" in r.text and f'value="remove:{school["id"]}"' in r.text
    r = await b.post(base, {"op": f"remove:{school['id']}", "version": str(form["version"])})
    assert r.status_code == 302
    form = await F.load(db, event["_id"])
    assert [f["id"] for f in form["fields"]] == [role["id"]] and f"{school['id']}:2" in form["past"]
    r = await b.get(base)
    assert r.status_code == 200 and "Role" in r.text


@pytest.mark.gen_test(timeout=60)
async def test_an_answer_file_is_downloaded_only_by_its_owner_and_the_events_staff(browser, factory, db, services):
    event, admin, form = await make_form(db, factory)
    owner = await factory.user()
    stranger = await factory.member(R.ATTENDEE, event=event)
    moderator = await factory.member(R.MODERATOR, event=event)
    answers = await F.accept(db, services, form, GOOD, {"f_cv": [upload("cv.pdf", PDF)]},
                             submitted_version=form["version"], owner_id=owner["_id"])
    url = f"/files/{answers['f_cv']['value']['file']}"
    for person, allowed in ((owner, True), (admin, True), (stranger, False), (moderator, False)):
        b = browser()
        await b.sign_in(person["login"], factory.PASSWORD)
        r = await b.get(url)
        if allowed:
            assert r.status_code == 200 and r.content == PDF
            assert r.headers["Content-Disposition"].startswith("attachment")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        else:
            assert r.status_code == 404
    r = await browser().get(url)
    assert r.status_code in (302, 403, 404) and r.content != PDF
