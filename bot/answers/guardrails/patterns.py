# ruff: noqa: E501  (long regex alternations read better unbroken)
"""Injection and jailbreak patterns (RU/EN, a few other languages): the second opinion.

Each pattern names what it catches. They run on every view of a message (see
`normalize.views`) and look for a *verb aimed at the assistant's own instructions*, not
for single words: "show me the instructions for the kettle" or "this is Dan" must pass.
Bounded gaps (`.{0,40}`) and no nested quantifiers keep every pattern linear.
"""

from __future__ import annotations

import re

# What an attack is after: the assistant's own instructions, rules and set-up.
_EN_TARGET = (
    r"(instructions?|prompts?|rules|guidelines|guidance|directives|restrictions|filters?|guardrails|"
    r"safety|programming|configuration|config|system message|settings)"
)
_RU_TARGET = (  # from a word's start: "отправил" holds no "правил"
    r"\b(инструкци|правил|промпт|установк|указани|ограничени|фильтр|настройк|директив|"
    r"конфигурац|запрет|систем\w* сообщени)"
)
_OWN_EN = r"(your|the|all|any|previous|prior|earlier|above|initial|original|hidden|secret|internal|system|old)"
_OWN_RU = r"(сво|тво|ваш|все|предыдущ|прошл|прежн|старые|старых|исходн|скрыт|секретн|внутренн|системн|служебн)"

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "override",
        re.compile(
            r"\b(ignore|disregard|forget|override|bypass|drop|skip|abandon|suspend|ditch|scrap|"
            r"discard|toss|throw (out|away)|put aside|erase|wipe|"
            r"turn off|switch off|disable|deactivate|cancel|stop (following|applying)|set aside)\b"
            rf"[^.!?\n]{{0,40}}\b{_OWN_EN}?\b[^.!?\n]{{0,20}}\b{_EN_TARGET}\b"
        ),
    ),
    (
        "override",
        re.compile(
            r"(игнорир|проигнорир|забудь|забудьте|отмени|отключи|выключи|сбрось|обойди|отложи|"
            r"выкинь|выкиньте|выбрось|выбросьте|отбрось|отбросьте|наплюй на|плюнь на|забей на|сотри|"
            r"не следуй|не соблюдай|наруши|откажись от|сними)\w*"
            rf"[^.!?\n]{{0,40}}{_RU_TARGET}"
        ),
    ),
    (
        "override",
        re.compile(
            r"(everything|anything|all) (you were|you've been|you have been) (told|given|instructed)"
            r"|(previous|earlier|old|prior) (task|instructions?) (is|are) (cancel|void|no longer)"
            r"|no longer appl(y|ies)|rules (are|were) (made|meant) to be broken"
            r"|without (any )?(restrictions|rules|limits|filters|censorship)"
            r"|no (restrictions|rules|limits|filters|censorship)\b"
            r"|your new (task|instructions?|role|rules) (is|are)"
            # an announcement that the assistant's own rules changed ("the owner changed your
            # rules", "your previous directives expired"): no customer needs to tell it that
            r"|\b(changed|updated|lifted|removed|rewrote|replaced|reset) your (rules|instructions|"
            r"restrictions|guidelines|directives|programming|settings)"
            r"|\byour (previous |old |prior |earlier )?(rules|instructions|restrictions|guidelines|"
            r"directives) (have |has )?(been |were |are |got )?(changed|updated|lifted|removed|"
            r"expired|void|suspended|outdated|obsolete)"
            r"|\b(previous|prior|old|earlier|former) (instructions|directives|rules|guidelines) "
            r"(have |has )?(expired|are outdated|are obsolete|are void)"
            r"|\byou are now (allowed|permitted|authori[sz]ed) to\b"
            # the assistant's task declared over, or its allegiance moved to the customer
            r"|\b(your|the assistant'?s) (task|job|mission|assignment|role) (has been |was |is )"
            r"(cancelled|canceled|over|void|terminated|replaced|changed)\b|(?<!my )\bnew (task|objective|"
            r"mission|role|instructions?) ?:|\byou (now )?(answer|report|work) (to|for) me\b"
            r"|\bobey (only )?my (orders|commands|instructions)\b|\bfollow only my (orders|commands|instructions)\b"
        ),
    ),
    (
        "override",
        re.compile(
            r"(без (каких-либо |всяких |любых )?(ограничений|правил|фильтров|цензуры))"
            r"|(нет|никаких) (правил|ограничений|фильтров)"
            r"|(нов\w+ (правила|инструкции|задача|роль) ?:)"  # a declaration, not a question
            r"|(теперь|с этого момента|отныне)[^.!?\n]{0,30}(подчиняешься|выполняешь|слушаешь|"
            r"отвечаешь без|ты не|ты больше не|твоя задача)"
            r"|ты больше не (бот|ассистент|помощник)"
            r"|(перестань|хватит|прекрати) быть (бот|ассистент|помощник|консультант)"
            r"|не обращай внимания на[^.!?\n]{0,40}(выше|ранее|прежн|предыдущ|инструкци|правил|"
            r"указани|установк|настройк)"
            r"|(твои|ваши|свои|все|прежние|старые|предыдущие|прошлые) (правила|инструкции|указания|"
            r"установки|ограничения|настройки)[^.!?\n]{0,20}(устарели|отменены|сняты|больше не "
            r"действуют|не действуют|недействительн|изменились|изменены)"
            r"|(твоя|ваша) (задача|миссия|роль) (отменена|завершена|изменилась|другая)"
            r"|(ты|теперь ты) (работаешь|служишь) (на меня|мне)|ты подчиняешься мне"
            r"|(действуй|работай|отвечай) (только )?по моим\b|выполня\w* (только )?мои (команды|"
            r"распоряжения|приказы)"
        ),
    ),
    (
        "role_change",
        re.compile(
            r"\byou are (now|no longer)\b|\bfrom now on,? you\b|\bstop being (a|the|an)\b"
            r"|\bdo anything now\b|\b(stay|remain) in (character|this role)\b"
            r"|\bpretend (to be|you are)\b[^.!?\n]{0,40}\b(no|without|unfiltered|uncensored|free)\b"
            r"|\b(unfiltered|uncensored|jailbroken|unrestricted) (ai|assistant|mode|bot|version)\b"
            r"|\bjailbreak|\bact as (a |an )?(linux )?terminal\b"
            r"|\b(don'?t|do not|never) (break|drop|leave) (your )?(character|the role)\b"
        ),
    ),
    (
        "role_change",
        re.compile(
            r"\bты теперь\b|\bотныне ты\b|(притворись|представь, что ты|представь что ты)[^.!?\n]{0,40}"
            r"(без|нет|не бот|свободн|цензур)|(оставайся|остаешься) в (этой )?роли|режим\w* без (ограничений|цензуры|фильтров)"
            r"|без цензуры|(show|покажи|показываешь) служебн|не выходи из (роли|образа)"
        ),
    ),
    (
        "extraction",
        re.compile(
            r"\bsystem[\s_-]?(prompt|message|instructions?)\b|\b(initial|original|hidden|secret|"
            r"internal|full|complete|exact|developer) (prompt|instructions|rules|configuration)\b"
            r"|\b(print|show|reveal|repeat|output|display|disclose|tell me|list|summari[sz]e|"
            r"quote|recite|dump|leak|give me|write out|read)\b[^.!?\n]{0,30}\b(your|ur)\b[^.!?\n]{0,20}"
            r"\b(prompt|instructions|guidelines|rules|configuration|directives|prompt blocks)\b"
            r"|\b(text|everything|words?) (above|before (my|this)|you were (given|told))\b"
            r"|\bwhat (were|have) you (been )?(told|instructed|given)\b"
            r"|\b(instructions|rules|prompt|guidelines) (that )?you (were|have been) (given|told)\b"
            r"|\bwhat (is|'s) in your (configuration|prompt|instructions|setup)\b"
            r"|\bstarting with (the words )?.?you are\b"
            r"|\b(rules|instructions|guidelines|directives) (that )?you (operate|work|run|function) "
            r"(under|by|on)\b"
            r"|\b(instructions|rules|guidelines|directives|directions|orders)\b[^.!?\n]{0,40}\b(did|have) "
            r"you (get|got|receive|been given)\b[^.!?\n]{0,20}\b(from|by) (your |the )?(developers?|"
            r"creators?|makers?|company|owners?|admins?|administrators?|programmers?|team)\b|\b(instructions|rules|guidelines|directives|prompt)\b"
            r"[^\n]{0,60}\b(word for word|verbatim)\b|\b(word for word|verbatim)\b[^\n]{0,60}\b(your|the) "
            r"(instructions|rules|guidelines|directives|prompt)\b"
        ),
    ),
    (
        "extraction",
        re.compile(
            r"системн\w* (промпт|инструкци|сообщени|подсказ)|(исходн|скрыт|секретн|внутренн|служебн|"
            r"первоначальн)\w* (инструкци|промпт|правил|указани|настройк)"
            r"|(покажи|выведи|повтори|перескажи|расскажи|раскрой|напиши|процитируй|озвучь|выдай|"
            r"перечисли|скажи)\w*[^.!?\n]{0,30}(сво|тво|ваш)\w*[^.!?\n]{0,15}(промпт|инструкци|правил|"
            r"указани|настройк|конфигурац)"
            r"|(какие|что) (тебе|вам) (дали|написали|сказали|запретили)"
            r"|текст выше|(в самом начале|до моего сообщения)|что написано в тво"
            r"|(правил|инструкци|указани|установк)\w*,? (по которым|которым|которые|согласно которым) "
            r"(ты|вы) (работаешь|работаете|следуешь|следуете|руководствуешься|подчиняешься)"
            r"|(покажи|выведи|повтори|раскрой|напиши|выдай|скажи)\w*[^.!?\n]{0,20}промпт"
            r"|(инструкци|правил|указани|установк|промпт)\w*[^.!?\n]{0,40}(ты|вы) (получил|получила|"
            r"получили|получаешь)[^.!?\n]{0,20}(от|у) (сво\w* |тво\w* |ваш\w* )?(разработчик|создател|"
            r"владел|компани|админ|программист|команд)|(инструкци|правил|указани|установк|промпт)[^\n]{0,60}(дословно|слово в "
            r"слово)|(дословно|слово в слово)[^\n]{0,60}(сво|тво|ваш)\w* (инструкци|правил|указани|"
            r"установк|промпт)"
        ),
    ),
    (
        "delimiter",
        re.compile(
            r"</?(system|user|assistant|customer_message|instructions?|name|admin)>"
            r"|<\|(im_start|im_end|system|endoftext)\|>|\[/?inst\]|<</?sys>>"
            r"|\[(end of (user )?(input|message)|system prompt override|system|admin|admin override)\]"
            r"|\[\[(admin|system)\]\]|```\s*system|(^|\n)\s*(assistant|system|ассистент|система)\s*:"
            r"|\[конец [^\]]{0,30}\]|(^|\n)\s*(admin|system) override"
        ),
    ),
    (
        "authority",
        re.compile(
            r"\bi('m| am) (the|your|a) (developer|admin|administrator|creator|owner|engineer|"
            r"programmer)\b[^\n]{0,60}\b(prompt|instructions|rules|filters|guardrails|debug|"
            r"access|disable|switch off|turn off|mode)"
            r"|\b(operator|admin|developer|debug|maintenance|god|sudo) mode\b[^\n]{0,40}"
            r"\b(code|authori[sz]ed|activated|granted)\b"
            r"|\broot access\b|\baccess code\b[^\n]{0,30}\b(confirm|accept|valid|authori)"
            r"|message from (the )?(team|openai|anthropic|developers)"
            r"|\b(your )?developers (asked|told|want)\b[^\n]{0,40}\b(instructions|rules|safety)"
            r"|\b(disclose|reveal|show)\b[^\n]{0,30}\bprompt\b[^\n]{0,60}\b(or|else|within)\b"
        ),
    ),
    (
        "authority",
        re.compile(
            r"я (твой |ваш |главный )?(разработчик|администратор|админ|создатель|владелец|программист)"
            r"[^\n]{0,60}(промпт|инструкци|правил|отладк|доступ|отключи|режим|фильтр)"
            r"|код\w* доступа|(режим|доступ)\w* (оператора|администратора|разработчика)\w*[^\n]{0,30}"
            r"(подтвержд|активир)|сообщение от команды|(правила|ограничения) [^\n]{0,30}отменены"
        ),
    ),
    (
        # A claim to be the business's own staff, then what only staff may have: a free
        # service on the house, another customer's details. The business never needs to ask
        # its own assistant, in the customers' chat, for either.
        "authority",
        re.compile(
            r"\b(i'?m|i am|this is|as|it'?s)\b[^.!?\n]{0,20}\b(general manager|duty manager|branch "
            r"manager|store manager|hotel manager|the manager here|owner of (this|your)|your owner|"
            r"the director|head office|it department|security (team|department|service)|front "
            r"desk|back office|your colleague|a colleague|colleague)\b[^\n]{0,160}\b(comp|"
            r"complimentary|free of charge|for free|on the house|waive|company'?s expense|"
            r"company account|charge it to|authori[sz]e|personal (details|data)|(guest|customer|"
            r"client)'?s? (name|phone|details|data|number)|(name|phone)\b[^.!?\n]{0,20}\b(on|for|of) "
            r"(that|the|this) (booking|order|reservation|account))"
            # "Hi, general manager of the north branch here." opening the message
            r"|(^|^(hi|hello|hey|good (morning|afternoon|evening))\b[ ,!]*)(a |the |your )?(colleague|"
            r"general manager|duty manager|head office|it department|front desk|back office|admin|"
            r"administrator|director|ceo|cto|owner|founder|management|billing|accounting|finance)\b"
            r"[^.!?\n]{0,40}\bhere\b"
            r"[^\n]{0,160}\b(comp|free|waive|authori[sz]e|name|phone|configuration|instructions|"
            r"mark\w*|discount|refund|credit|unlock|grant|activate|approve)\b"
        ),
    ),
    (
        "authority",
        re.compile(
            r"(\bя\b|\bэто\b|\bкак\b|\bпишет\b|на связи)[^.!?\n]{0,20}(управляющ|директор|"
            r"владел\w* (сети|отеля|магазина|компании|школы|этого)|служб\w* безопасности|головн\w* офис|"
            r"коллега|с ресепшен)[^\n]{0,160}(разрешаю|даю (тебе |вам )?(право|разрешение)|бесплатн|"
            r"за сч[её]т (отеля|компании|заведения|магазина|фирмы|сети)|без оплаты|телефон\w* и "
            r"(фамили|им)|(фамили|им)\w* и телефон|персональн\w* данн|данные (гост|клиент)|отключи|"
            r"настройк|инструкци)"
        ),
    ),
    (
        "foreign_injection",
        re.compile(
            r"ignorier\w*[^.!?\n]{0,40}(anweisung|regel|vorgabe)|systemprompt|systemanweisung"
            r"|ignora\w*[^.!?\n]{0,40}(instrucci|regla|indicaci)|(ignore[sz]?|oublie[sz]?)\w*[^.!?\n]{0,40}"
            r"(consignes|règles|regles)|prompt (du |de )?syst[eè]me"
            r"|(ігнор|забудь)\w*[^.!?\n]{0,40}(інструкц|правил|промпт)|системн\w* промпт"
            r"|忽略|无视|系统提示|提示词|你的规则|忘记你的|全部指令|所有指令"
        ),
    ),
]


def match_patterns(views: list[str]) -> tuple[str, str] | None:
    """The first (rule, matched text) over all views, or None."""
    found = first_match(views)
    return (found[0], found[1]) if found else None


def first_match(
    views: list[str], prefer: frozenset[str] = frozenset()
) -> tuple[str, str, int] | None:
    """The first (rule, matched text, index of the view it was found in), or None; a rule
    in `prefer` found in any view comes before every other rule."""
    for rules in (prefer, None) if prefer else (None,):
        for index, view in enumerate(views):
            for rule, pattern in PATTERNS:
                if rules is not None and rule not in rules:
                    continue
                found = pattern.search(view)
                if found:
                    return rule, found.group(0)[:80], index
    return None
