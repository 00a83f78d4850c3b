"""A tiny parallel English/Russian reference text: the "background" of each language.

e5 scores a question higher against any passage in the question's own language. The mean
similarity of a question to these sentences — the same meanings in both languages — measures
that pull alone, independent of what the knowledge base holds, so subtracting it puts
languages on one scale even for a knowledge base of three documents.
"""

from __future__ import annotations

PARALLEL: tuple[tuple[str, str], ...] = (
    ("The weather was warm and sunny all week.", "Всю неделю погода была тёплой и солнечной."),
    (
        "She bought fresh bread at the bakery on the corner.",
        "Она купила свежий хлеб в пекарне на углу.",
    ),
    ("The train to the city leaves every hour.", "Поезд в город отправляется каждый час."),
    (
        "Our team meets on Monday mornings to plan the week.",
        "Наша команда встречается по понедельникам утром, чтобы спланировать неделю.",
    ),
    (
        "Please read the instructions before you start.",
        "Пожалуйста, прочитайте инструкцию перед началом.",
    ),
    ("The museum is closed on public holidays.", "Музей закрыт в праздничные дни."),
    (
        "He has been learning to play the guitar for two years.",
        "Он учится играть на гитаре уже два года.",
    ),
    (
        "Prices may change without prior notice.",
        "Цены могут меняться без предварительного уведомления.",
    ),
    (
        "The children played football in the park after school.",
        "После школы дети играли в футбол в парке.",
    ),
    (
        "You can find more information on our website.",
        "Больше информации можно найти на нашем сайте.",
    ),
    ("The meeting was moved to Thursday afternoon.", "Встречу перенесли на вечер четверга."),
    ("Drink enough water during hot days.", "Пейте достаточно воды в жаркие дни."),
    (
        "This recipe needs two eggs, flour and a little milk.",
        "Для этого рецепта нужны два яйца, мука и немного молока.",
    ),
    (
        "The new library opened in the city centre last year.",
        "Новая библиотека открылась в центре города в прошлом году.",
    ),
    (
        "Customers can contact us by phone or e-mail.",
        "Клиенты могут связаться с нами по телефону или электронной почте.",
    ),
    ("The report must be submitted by the end of the month.", "Отчёт нужно сдать до конца месяца."),
    ("Turn off the lights when you leave the room.", "Выключайте свет, когда выходите из комнаты."),
    ("The hotel offers breakfast from seven to ten.", "Отель предлагает завтрак с семи до десяти."),
    (
        "Our company was founded more than twenty years ago.",
        "Наша компания была основана более двадцати лет назад.",
    ),
    ("The road is closed because of repairs.", "Дорога закрыта из-за ремонта."),
    (
        "Keep the receipt in case you need it later.",
        "Сохраните чек на случай, если он понадобится позже.",
    ),
    (
        "The concert starts at eight o'clock in the evening.",
        "Концерт начинается в восемь часов вечера.",
    ),
    (
        "Many people work from home several days a week.",
        "Многие люди работают из дома несколько дней в неделю.",
    ),
    (
        "The package contains a cable and a short manual.",
        "В комплект входят кабель и краткое руководство.",
    ),
)


def reference_texts(language: str) -> list[str]:
    """The reference sentences of a language ("en" or "ru"); [] for any other."""
    column = {"en": 0, "ru": 1}.get(language)
    return [] if column is None else [pair[column] for pair in PARALLEL]
