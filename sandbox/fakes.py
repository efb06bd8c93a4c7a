"""Fake-but-realistic values (names, cities, sites, colours) and small deterministic helpers."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

MSK_OFFSET = timezone(timedelta(hours=3))

FIRST_NAMES = ("Пётр", "Мария", "Сергей", "Ольга", "Иван", "Елена", "Дмитрий", "Анна", "Алексей", "Наталья",
               "Андрей", "Татьяна", "Михаил", "Екатерина", "Николай", "Юлия")
SURNAMES = ("Смирнова", "Попова", "Иванова", "Козлов", "Кузнецов", "Соколова", "Лебедев", "Новикова",
            "Морозов", "Волкова", "Петров", "Васильева")
MIDDLENAMES = ("Петрович", "Сергеевна", "Иванович", "Андреевна")

# (city id, name, IANA zone) - real QTickets cities/zones incl. the non-Moscow ones seen live.
CITIES = (
    (1, "Москва", "Europe/Moscow"),
    (24, "Томск", "Asia/Krasnoyarsk"),
    (279, "Прокопьевск", "Asia/Novosibirsk"),
    (68, "Барнаул", "Asia/Novokuznetsk"),
    (205, "Междуреченск", "Asia/Novokuznetsk"),
    (3, "Новосибирск", "Asia/Novosibirsk"),
    (5, "Екатеринбург", "Asia/Yekaterinburg"),
    (2, "Санкт-Петербург", "Europe/Moscow"),
)
CITY_COORDS = {1: (55.7558, 37.6173), 24: (56.4595, 84.9655), 279: (53.8836, 86.7158), 68: (53.3481, 83.7798),
               205: (53.6866, 88.0703), 3: (55.0302, 82.9204), 5: (56.8389, 60.6057), 2: (59.9386, 30.3141)}

SITES = ((1356, "корпорация-кубиков.рф", 12133), (2210, "irs-tickets.example.com", 15120),
         (3045, "kids-expo.example.com", 18873))

EVENT_TITLES = ("Детская интерактивная выставка", "Шоу мыльных пузырей", "Научное шоу", "Новогодняя ёлка",
                "Кукольный спектакль", "Концерт симфонического оркестра", "Стендап вечер", "Лазерное шоу")

# (zone slug, seat name, admission?) ; a seated zone gets unique "<zone>-<row>;<place>" seats.
ADMISSION_ZONES = (("vzroslyj-bilet", "Взрослый билет"), ("detskij-bilet", "Детский билет"),
                   ("lgotnyj-bilet", "Льготный билет"), ("semejnyj-bilet", "Семейный билет"))
SEATED_ZONE = ("CENTER_PARTERRE", "Партер")

COLOR_THEMES = ("#d80000", "#d8007f", "#b200d8", "#5b00d8", "#0016d8", "#0070d8", "#00a5d8", "#00d8c4",
                "#00d86b", "#3fd800", "#a5d800", "#d8c400", "#d88a00", "#d84e00", "#009f4b")

UTM_SOURCES = (("insta", "opisanie", "profil"), ("vk", "posty", "anons2"), ("yandex", "cpc", "62384014"),
               ("vk", "tomsk", "afisha_family"))


def iso(epoch: int | None) -> str | None:
    """ISO-8601 with the vendor's ``+03:00`` offset (every vendor timestamp uses it)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, MSK_OFFSET).isoformat()


def hexdigest(*parts: object, length: int = 10) -> str:
    """Deterministic pseudo-random hex string (uniqids, hashes, e-mail local parts)."""
    raw = "|".join(str(p) for p in parts).encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()[:length]


def mix(*parts: int) -> int:
    """Deterministic 64-bit mix of integers (cheap stand-in for a per-item RNG draw)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h ^= p + 0x9E3779B97F4A7C15 + ((h << 6) & 0xFFFFFFFFFFFFFFFF) + (h >> 2)
        h &= 0xFFFFFFFFFFFFFFFF
        h = (h * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h
