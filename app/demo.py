"""The demo: one organiser space with one event in all eight languages.

`seed` is idempotent: when the demo space exists it only reports the accounts.
Slides are drawn with Pillow at seed time (one deck per language, each slide
marked with its language), so a viewer can see at a glance that they get
their own locale's slide.  Every account shares DEMO_PASSWORD.
"""
from __future__ import annotations

import datetime
import io
import os
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont, features

from access import roles as R
from access.rules import PUBLIC
from accounts import users
from core.clock import utcnow
from core.i18n import LOCALES
from events import model
from media import image_store
from registration import form_edit

SPACE_SLUG = "demo"
EVENT_SLUG = "launch-2026"
SLIDES_PER_DECK = 6
FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

TITLES = {
    "ru": "Запуск продукта 2026", "en": "Product Launch 2026", "de": "Produktstart 2026",
    "lv": "Produkta palaišana 2026", "lt": "Produkto pristatymas 2026",
    "et": "Tooteesitlus 2026", "kk": "Өнімді іске қосу 2026", "he": "השקת המוצר 2026",
}
DESCRIPTIONS = {
    "ru": "Прямая трансляция на восьми языках: слайды, чат и вопросы спикерам.",
    "en": "A live broadcast in eight languages: slides, chat and questions to the speakers.",
    "de": "Eine Live-Übertragung in acht Sprachen: Folien, Chat und Fragen an die Vortragenden.",
    "lv": "Tiešraide astoņās valodās: slaidi, tērzēšana un jautājumi runātājiem.",
    "lt": "Tiesioginė transliacija aštuoniomis kalbomis: skaidrės, pokalbiai ir klausimai pranešėjams.",
    "et": "Otseülekanne kaheksas keeles: slaidid, vestlus ja küsimused esinejatele.",
    "kk": "Сегіз тілдегі тікелей эфир: слайдтар, чат және спикерлерге сұрақтар.",
    "he": "שידור חי בשמונה שפות: שקופיות, צ'אט ושאלות לדוברים.",
}
DAY_TITLES = [
    {"ru": "День 1: открытие", "en": "Day 1: opening", "de": "Tag 1: Eröffnung", "lv": "1. diena: atklāšana",
     "lt": "1 diena: atidarymas", "et": "1. päev: avamine", "kk": "1-күн: ашылу", "he": "יום 1: פתיחה"},
    {"ru": "День 2: практика", "en": "Day 2: practice", "de": "Tag 2: Praxis", "lv": "2. diena: prakse",
     "lt": "2 diena: praktika", "et": "2. päev: praktika", "kk": "2-күн: практика", "he": "יום 2: תרגול"},
    {"ru": "День 3: итоги", "en": "Day 3: wrap-up", "de": "Tag 3: Abschluss", "lv": "3. diena: kopsavilkums",
     "lt": "3 diena: apibendrinimas", "et": "3. päev: kokkuvõte", "kk": "3-күн: қорытынды", "he": "יום 3: סיכום"},
]
SLIDE_WORD = {"ru": "Слайд", "en": "Slide", "de": "Folie", "lv": "Slaids", "lt": "Skaidrė",
              "et": "Slaid", "kk": "Слайд", "he": "שקופית"}
COLOURS = {"ru": (31, 95, 191), "en": (27, 122, 61), "de": (138, 90, 0), "lv": (122, 23, 18),
           "lt": (90, 40, 140), "et": (0, 110, 120), "kk": (0, 120, 200), "he": (60, 60, 60)}
SESSIONS = [
    (0, 9, 0, 45, {"ru": "Открытие", "en": "Opening keynote", "de": "Eröffnungsrede", "lv": "Atklāšanas runa",
                    "lt": "Atidarymo pranešimas", "et": "Avakõne", "kk": "Ашылу сөзі", "he": "הרצאת פתיחה"}, "Anna Petrova"),
    (0, 10, 0, 60, {"ru": "Новый продукт", "en": "The new product", "de": "Das neue Produkt", "lv": "Jaunais produkts",
                     "lt": "Naujas produktas", "et": "Uus toode", "kk": "Жаңа өнім", "he": "המוצר החדש"}, "Jonas Berg"),
    (1, 9, 0, 90, {"ru": "Мастер-класс", "en": "Workshop", "de": "Workshop", "lv": "Meistarklase",
                    "lt": "Praktinis seminaras", "et": "Töötuba", "kk": "Шеберлік сыныбы", "he": "סדנה"}, "Maria Kask"),
    (2, 11, 0, 60, {"ru": "Итоги и вопросы", "en": "Summary and Q&A", "de": "Fazit und Fragen", "lv": "Kopsavilkums un jautājumi",
                     "lt": "Apibendrinimas ir klausimai", "et": "Kokkuvõte ja küsimused", "kk": "Қорытынды және сұрақтар",
                     "he": "סיכום ושאלות"}, "Daniel Levi"),
]


def _font(size: int):
    for path in FONT_PATHS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def slide_png(locale: str, number: int, total: int) -> bytes:
    img = Image.new("RGB", (1280, 720), COLOURS[locale])
    draw = ImageDraw.Draw(img)
    line = f"{SLIDE_WORD[locale]} {number} / {total}"
    if locale == "he" and not features.check("raqm"):
        line = line[::-1]  # without libraqm Pillow draws right-to-left text in logical order
    draw.text((640, 250), locale.upper(), fill="white", font=_font(160), anchor="mm")
    draw.text((640, 450), line, fill="white", font=_font(90), anchor="mm")
    draw.text((640, 640), "Livehall demo", fill=(230, 230, 230), font=_font(36), anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


# (login, name, role, locale, languages served)
ACCOUNTS: list[tuple[str, str, str, str, list[str]]] = [("admin", "Demo Admin", R.PLATFORM_ADMIN, "en", []),
            ("moderator", "Demo Moderator", R.MODERATOR, "en", [])]
ACCOUNTS += [(f"commentator-{c}", f"Commentator {c.upper()}", R.COMMENTATOR, c, [c]) for c in LOCALES]
ACCOUNTS += [(f"attendee-{c}", f"Attendee {c.upper()}", R.ATTENDEE, c, []) for c in LOCALES]


QUIZ_TITLE = {"ru": "Разминка", "en": "Warm-up quiz", "de": "Aufwärmquiz", "lv": "Iesildīšanās tests",
              "lt": "Apšilimo testas", "et": "Soojendusviktoriin", "kk": "Жаттығу тесті", "he": "חידון חימום"}
QUIZ_INTRO = {"ru": "Два вопроса о первом дне.", "en": "Two questions about day one.",
              "de": "Zwei Fragen zum ersten Tag.", "lv": "Divi jautājumi par pirmo dienu.",
              "lt": "Du klausimai apie pirmąją dieną.", "et": "Kaks küsimust esimese päeva kohta.",
              "kk": "Бірінші күн туралы екі сұрақ.", "he": "שתי שאלות על היום הראשון."}
QUIZ_QUESTIONS = [
    {"kind": "single",
     "text": {"ru": "Сколько языков у трансляции?", "en": "How many languages does the broadcast have?",
              "de": "In wie vielen Sprachen läuft die Übertragung?", "lv": "Cik valodās ir tiešraide?",
              "lt": "Kiek kalbų turi transliacija?", "et": "Mitmes keeles ülekanne on?",
              "kk": "Эфир неше тілде?", "he": "בכמה שפות השידור?"},
     "options": [{"text": {c: "6" for c in LOCALES}}, {"text": {c: "8" for c in LOCALES}, "correct": True},
                 {"text": {c: "12" for c in LOCALES}}]},
    {"kind": "multiple",
     "text": {"ru": "Что есть на странице мероприятия?", "en": "What is on the event page?",
              "de": "Was gibt es auf der Veranstaltungsseite?", "lv": "Kas ir pasākuma lapā?",
              "lt": "Kas yra renginio puslapyje?", "et": "Mis on ürituse lehel?",
              "kk": "Іс-шара бетінде не бар?", "he": "מה יש בעמוד האירוע?"},
     "options": [{"text": {"ru": "Слайды", "en": "Slides", "de": "Folien", "lv": "Slaidi", "lt": "Skaidrės",
                           "et": "Slaidid", "kk": "Слайдтар", "he": "שקופיות"}, "correct": True},
                 {"text": {"ru": "Чат", "en": "Chat", "de": "Chat", "lv": "Tērzēšana", "lt": "Pokalbiai",
                           "et": "Vestlus", "kk": "Чат", "he": "צ'אט"}, "correct": True},
                 {"text": {"ru": "Бумажные билеты", "en": "Paper tickets", "de": "Papiertickets",
                           "lv": "Papīra biļetes", "lt": "Popieriniai bilietai", "et": "Paberpiletid",
                           "kk": "Қағаз билеттер", "he": "כרטיסי נייר"}}]},
]
PAGE_TITLE = {"ru": "Нетворкинг", "en": "Networking corner", "de": "Networking-Ecke", "lv": "Kontaktu stūrītis",
              "lt": "Pažinčių kampelis", "et": "Suhtlusnurk", "kk": "Танысу бұрышы", "he": "פינת היכרויות"}
PAGE_BODY = {
    "ru": "Представьтесь и расскажите, откуда вы смотрите.\n\nПрограмма: https://example.org/livehall/programme.pdf",
    "en": "Introduce yourself and say where you are watching from.\n\nProgramme: https://example.org/livehall/programme.pdf",
    "de": "Stellen Sie sich vor und sagen Sie, von wo Sie zuschauen.\n\nProgramm: https://example.org/livehall/programme.pdf",
    "lv": "Iepazīstiniet ar sevi un pastāstiet, no kurienes skatāties.\n\nProgramma: https://example.org/livehall/programme.pdf",
    "lt": "Prisistatykite ir papasakokite, iš kur žiūrite.\n\nPrograma: https://example.org/livehall/programme.pdf",
    "et": "Tutvustage end ja öelge, kust te vaatate.\n\nKava: https://example.org/livehall/programme.pdf",
    "kk": "Өзіңізді таныстырып, қайдан көріп отырғаныңызды айтыңыз.\n\nБағдарлама: https://example.org/livehall/programme.pdf",
    "he": "הציגו את עצמכם וספרו מאיפה אתם צופים.\n\nתוכנית: https://example.org/livehall/programme.pdf",
}


def _all(en: str, ru: str) -> dict[str, str]:
    """A demo label: Russian and English, the other languages fall back to English."""
    return {"en": en, "ru": ru}


# The demo event's registration form: a profile field, a choice with a field shown only for one
# answer, and a consent.
DEMO_FORM = [
    {"id": "f_company", "type": "text", "label": _all("Company", "Компания"), "required": False,
     "profile_key": "company"},
    {"id": "f_role", "type": "single", "label": _all("You are", "Вы"), "required": True,
     "options": [{"value": "viewer", "label": _all("A viewer", "Зритель")},
                 {"value": "organiser", "label": _all("An organiser of events", "Организатор мероприятий")}]},
    {"id": "f_audience", "type": "number", "label": _all("Audience of your events", "Аудитория ваших мероприятий"),
     "required": True, "min": 1, "max": 1_000_000,
     "condition": {"field": "f_role", "values": ["organiser"]}},
    {"id": "f_terms", "type": "consent", "label": _all("Terms", "Условия"), "required": True,
     "consent": {"text": _all("I agree to the processing of my data for this event.",
                              "Я согласен на обработку моих данных для этого мероприятия.")}},
]


async def seed(services) -> dict:
    db = services.db
    space = await db.spaces.find_one({"slug": SPACE_SLUG})
    if space:
        event = await db.events.find_one({"space_id": space["_id"], "slug": EVENT_SLUG})
        return {"space": space, "event": event, "created": False}

    space = await model.create_space(db, slug=SPACE_SLUG, name="Demo organiser")
    event = model.blank_event(space["_id"], EVENT_SLUG, list(LOCALES), "en", dict(TITLES), "Europe/Riga")
    event["description"] = dict(DESCRIPTIONS)
    today = utcnow().date()
    event["days"] = [{"id": f"day{i + 1}", "date": (today + datetime.timedelta(days=i)).isoformat(),
                      "title": title, "enabled": i == 0} for i, title in enumerate(DAY_TITLES)]
    # The gate stays shut until an admin opens it or the official start passes.
    event["gate"] = {"mode": model.GATE_AUTO, "official_start": utcnow() + datetime.timedelta(hours=1)}
    event["broadcast"] = {"on": False, "sources": {
        c: {"kind": "youtube", "url": "https://www.youtube.com/watch?v=jNQXAC9IVRw",
            "embed": "https://www.youtube-nocookie.com/embed/jNQXAC9IVRw"} for c in LOCALES}}
    decks = {}
    for c in LOCALES:
        deck = []
        for n in range(1, SLIDES_PER_DECK + 1):
            stored = await image_store.store_image(db, slide_png(c, n, SLIDES_PER_DECK), f"{c}-{n}.png",
                                             max_bytes=10 * 1024 * 1024)
            deck.append({"media_id": stored["_id"], "name": f"{c}-{n}.png"})
        decks[c] = deck
    event["slides"] = {"visible": True, "index": 0, "decks": decks}
    tz = ZoneInfo(event["timezone"])
    event["schedule"] = []
    for day, hour, minute, length, title, speaker in SESSIONS:
        starts = datetime.datetime.combine(today + datetime.timedelta(days=day),
                                           datetime.time(hour, minute), tzinfo=tz)
        event["schedule"].append({
            "id": model.new_item_id(), "day_id": f"day{day + 1}", "title": title, "speaker": speaker,
            "starts_at": starts.astimezone(datetime.UTC),
            "ends_at": (starts + datetime.timedelta(minutes=length)).astimezone(datetime.UTC),
        })
    event["materials"] = [
        {"id": model.new_item_id(), "url": "https://example.org/livehall/programme.pdf",
         "title": {"ru": "Программа", "en": "Programme", "de": "Programm", "lv": "Programma",
                   "lt": "Programa", "et": "Kava", "kk": "Бағдарлама", "he": "תוכנית"}},
        {"id": model.new_item_id(), "url": "https://example.org/livehall/handbook.pdf",
         "title": {"ru": "Справочник участника", "en": "Attendee handbook", "de": "Teilnehmerhandbuch",
                   "lv": "Dalībnieka rokasgrāmata", "lt": "Dalyvio vadovas", "et": "Osaleja käsiraamat",
                   "kk": "Қатысушы анықтамалығы", "he": "מדריך למשתתף"}},
    ]
    # Public, listed in the space's catalogue (/s/demo), open for self-registration.
    event["privacy"] = {"level": PUBLIC, "emails": []}
    event["tags"] = ["streaming", "events", "product"]
    event["registration"] = {"open": True, "capacity": 500, "approval": False, "offer_hours": 48}
    await model.create_event(db, event)

    hashed = await services.hasher.hash(services.settings.demo_password)
    admin = None
    for login, name, role, locale, langs in ACCOUNTS:
        user = await users.create(db, email=f"{login}@demo.livehall.test", name=name, locale=locale,
                                  password_hash=hashed, login=login, platform_admin=role == R.PLATFORM_ADMIN)
        if role != R.PLATFORM_ADMIN:
            await R.grant(db, user, "event", event["_id"], role, langs)
        else:
            admin = user
    assert admin is not None  # ACCOUNTS holds the platform admin
    await _between_sessions(db, admin, event)
    await form_edit.save(db, admin, event, DEMO_FORM, expected_version=0)
    return {"space": space, "event": event, "created": True}


async def _between_sessions(db, admin: dict, event: dict) -> None:
    """An open quiz and a community page with its discussion, so the demo shows them."""
    from community import pages
    from quizzes import authoring
    quiz = await authoring.create(db, admin, event, title=dict(QUIZ_TITLE), intro=dict(QUIZ_INTRO),
                                  time_limit_seconds=300, questions=QUIZ_QUESTIONS)
    await authoring.set_status(db, admin, event, quiz, authoring.OPEN)
    await pages.create(db, admin, event, slug="networking", title=dict(PAGE_TITLE), body=dict(PAGE_BODY),
                       discussion="open", published=True)


def describe(summary: dict, settings) -> str:
    event = summary["event"]
    lines = [
        "Demo ready" + ("" if summary["created"] else " (already seeded)") + ":",
        f"  catalogue:    {settings.public_url}/s/{SPACE_SLUG}",
        f"  register:     {settings.public_url}/e/{SPACE_SLUG}/{EVENT_SLUG}/register",
        f"  event page:   {settings.public_url}/e/{SPACE_SLUG}/{EVENT_SLUG}",
        f"  live control: {settings.public_url}/admin/events/{event['_id']}/control" if event else "",
        f"  password of every account: {settings.demo_password} (set DEMO_PASSWORD to change it)",
        "  admin:        admin",
        "  moderator:    moderator",
        "  commentators: " + ", ".join(f"commentator-{c}" for c in LOCALES),
        "  attendees:    " + ", ".join(f"attendee-{c}" for c in LOCALES),
    ]
    return "\n".join(line for line in lines if line)
