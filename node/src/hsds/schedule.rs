//! Opening hours: the German short form agencies write, as HSDS weekly schedules.
//!
//! Lotse keeps opening hours as free text. Text in this grammar is also exported as
//! structured HSDS `schedule`s (weekly, `byday`, `opens_at`, `closes_at`); anything else
//! stays text only (the schedule's `description`). A text is taken whole or not at all, so
//! a parsed schedule never says less than the text.
//!
//! ```text
//! hours = rule { ("," | ";") rule } ;
//! rule  = days times [ "Uhr" ] ;
//! days  = day-or-range { ("," | "und" | "+" | "&") day-or-range } ;
//! day-or-range = day [ ("-" | "–" | "bis") day ] ;       (Mo-Fr, not Fr-Mo)
//! day   = "Mo" | "Di" | "Mi" | "Do" | "Fr" | "Sa" | "So"  (optionally with ".")
//! times = span { ("," | "und" | "+" | "&") span } ;
//! span  = time ("-" | "–" | "bis") time ;                 (opens before it closes)
//! time  = hour [ (":" | ".") minute ] ;                   (9, 09:30, 14.15; 0-24)
//! ```
//!
//! Examples: `Mo-Fr 9-12`, `Mo–Do 9–16 Uhr, Fr 9–12 Uhr`, `Di und Do 9:30-13 Uhr`,
//! `Mo, Mi 9-12, 14-16`. Times are local time in Germany; the export gives no UTC offset,
//! because a fixed one would be wrong for half the year (summer time).

/// Days of the week, as HSDS (iCalendar) writes them, Monday first.
const ICAL_DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
/// German abbreviations in the same order.
const GERMAN_DAYS: [&str; 7] = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"];

/// One weekly opening: these days, from `opens` to `closes` (minutes after midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyOpening {
    /// Days, 0 = Monday, ascending, no duplicates.
    pub days: Vec<u8>,
    /// Opening time in minutes after midnight.
    pub opens: u16,
    /// Closing time in minutes after midnight (after `opens`).
    pub closes: u16,
}

impl WeeklyOpening {
    /// HSDS `byday`: `MO,TU,WE`.
    pub fn byday(&self) -> String {
        self.days
            .iter()
            .map(|d| ICAL_DAYS[usize::from(*d)])
            .collect::<Vec<_>>()
            .join(",")
    }

    /// HSDS `opens_at`: `09:00`.
    pub fn opens_at(&self) -> String {
        hhmm(self.opens)
    }

    /// HSDS `closes_at`: `12:30`.
    pub fn closes_at(&self) -> String {
        hhmm(self.closes)
    }

    /// Builds an opening from HSDS fields; `None` if they do not describe one.
    pub fn from_hsds(byday: &str, opens_at: &str, closes_at: &str) -> Option<WeeklyOpening> {
        let mut days = Vec::new();
        for part in byday.split(',') {
            let d = ICAL_DAYS
                .iter()
                .position(|x| x.eq_ignore_ascii_case(part.trim()))?;
            days.push(u8::try_from(d).ok()?);
        }
        days.sort_unstable();
        days.dedup();
        let opens = hsds_time(opens_at)?;
        let closes = hsds_time(closes_at)?;
        (!days.is_empty() && opens < closes).then_some(WeeklyOpening {
            days,
            opens,
            closes,
        })
    }
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `09:00`, `9:00:00`, `09:00Z`, `09:00+01:00`: the local time part (an offset is dropped:
/// German services give local times).
fn hsds_time(text: &str) -> Option<u16> {
    let t = text.trim();
    let local = t.split(['Z', 'z', '+']).next()?;
    let mut parts = local.split(':');
    let h: u16 = parts.next()?.trim().parse().ok()?;
    let m: u16 = parts.next().unwrap_or("0").trim().parse().ok()?;
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// Formats openings in the grammar above (`Mo–Fr 9:00–12:00`), for an imported service
/// that has schedules but no text.
pub fn to_text(openings: &[WeeklyOpening]) -> String {
    openings
        .iter()
        .map(|o| {
            let days = day_ranges(&o.days);
            format!("{days} {}–{} Uhr", short(o.opens), short(o.closes))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(minutes: u16) -> String {
    if minutes.is_multiple_of(60) {
        (minutes / 60).to_string()
    } else {
        format!("{}:{:02}", minutes / 60, minutes % 60)
    }
}

fn day_ranges(days: &[u8]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let start = days[i];
        let mut end = start;
        while i + 1 < days.len() && days[i + 1] == end + 1 {
            i += 1;
            end = days[i];
        }
        let (a, b) = (
            GERMAN_DAYS[usize::from(start)],
            GERMAN_DAYS[usize::from(end)],
        );
        out.push(match end - start {
            0 => a.to_string(),
            1 => format!("{a}, {b}"),
            _ => format!("{a}–{b}"),
        });
        i += 1;
    }
    out.join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Day(u8),
    Time(u16),
    Range,
    And,
    Comma,
    Semicolon,
    Uhr,
}

fn tokens(text: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '-' | '–' | '—' => Some(Token::Range),
            ',' => Some(Token::Comma),
            ';' => Some(Token::Semicolon),
            '+' | '&' => Some(Token::And),
            _ => None,
        };
        if let Some(t) = single {
            out.push(t);
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == ':' || chars[i] == '.')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let word = word.trim_end_matches('.');
            let (h, m) = match word.split_once([':', '.']) {
                Some((h, m)) if m.len() == 2 => (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?),
                Some(_) => return None,
                None => (word.parse::<u16>().ok()?, 0),
            };
            if h > 24 || m > 59 || h * 60 + m > 24 * 60 {
                return None;
            }
            out.push(Token::Time(h * 60 + m));
            continue;
        }
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if i < chars.len() && chars[i] == '.' {
                i += 1; // "Mo." like "Mo"
            }
            let token = match word.as_str() {
                "und" => Token::And,
                "bis" => Token::Range,
                "Uhr" | "uhr" => Token::Uhr,
                w => Token::Day(u8::try_from(GERMAN_DAYS.iter().position(|d| *d == w)?).ok()?),
            };
            out.push(token);
            continue;
        }
        return None;
    }
    Some(out)
}

/// Parses opening hours in the grammar above; `None` if the text is not entirely in it.
pub fn parse(text: &str) -> Option<Vec<WeeklyOpening>> {
    let toks = tokens(text)?;
    let mut p = Parser { toks, at: 0 };
    let mut openings = Vec::new();
    loop {
        let days = p.days()?;
        loop {
            let (opens, closes) = p.span()?;
            openings.push(WeeklyOpening {
                days: days.clone(),
                opens,
                closes,
            });
            // Another span follows a joiner when the token after it is a time.
            if matches!(p.peek(), Some(Token::Comma | Token::And))
                && matches!(p.peek_at(1), Some(Token::Time(_)))
            {
                p.at += 1;
                continue;
            }
            break;
        }
        if p.peek() == Some(Token::Uhr) {
            p.at += 1;
        }
        match p.peek() {
            None => break,
            Some(Token::Comma | Token::Semicolon) => p.at += 1,
            _ => return None,
        }
    }
    (!openings.is_empty()).then_some(openings)
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.toks.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<Token> {
        self.toks.get(self.at + ahead).copied()
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.peek();
        self.at += 1;
        t
    }

    fn day(&mut self) -> Option<u8> {
        match self.next()? {
            Token::Day(d) => Some(d),
            _ => None,
        }
    }

    fn days(&mut self) -> Option<Vec<u8>> {
        let mut days = Vec::new();
        loop {
            let first = self.day()?;
            if self.peek() == Some(Token::Range) {
                self.at += 1;
                let last = self.day()?;
                if last <= first {
                    return None;
                }
                days.extend(first..=last);
            } else {
                days.push(first);
            }
            if matches!(self.peek(), Some(Token::Comma | Token::And))
                && matches!(self.peek_at(1), Some(Token::Day(_)))
            {
                self.at += 1;
                continue;
            }
            break;
        }
        days.sort_unstable();
        days.dedup();
        Some(days)
    }

    fn span(&mut self) -> Option<(u16, u16)> {
        let Token::Time(opens) = self.next()? else {
            return None;
        };
        if self.next()? != Token::Range {
            return None;
        }
        let Token::Time(closes) = self.next()? else {
            return None;
        };
        (opens < closes).then_some((opens, closes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(days: &[u8], opens: u16, closes: u16) -> WeeklyOpening {
        WeeklyOpening {
            days: days.to_vec(),
            opens,
            closes,
        }
    }

    #[test]
    fn the_grammar_is_accepted() {
        assert_eq!(
            parse("Mo-Fr 9-12"),
            Some(vec![o(&[0, 1, 2, 3, 4], 540, 720)])
        );
        assert_eq!(
            parse("Mo–Do 9–16 Uhr, Fr 9–12 Uhr"),
            Some(vec![o(&[0, 1, 2, 3], 540, 960), o(&[4], 540, 720)])
        );
        assert_eq!(
            parse("Di und Do 9:30-13 Uhr"),
            Some(vec![o(&[1, 3], 570, 780)])
        );
        assert_eq!(
            parse("Mo, Mi 9-12, 14.15-16"),
            Some(vec![o(&[0, 2], 540, 720), o(&[0, 2], 855, 960)])
        );
        assert_eq!(
            parse("Mi 16–19 Uhr; Sa. 11 bis 15 Uhr"),
            Some(vec![o(&[2], 960, 1140), o(&[5], 660, 900)])
        );
        let p = &parse("Mo-Fr 8-12").unwrap()[0];
        assert_eq!(
            (
                p.byday().as_str(),
                p.opens_at().as_str(),
                p.closes_at().as_str()
            ),
            ("MO,TU,WE,TH,FR", "08:00", "12:00")
        );
    }

    #[test]
    fn other_text_is_not_parsed() {
        for text in [
            "",
            "nach Vereinbarung",
            "Mo–Fr 10–17 Uhr, nach Vereinbarung auch später",
            "Mo–Do 9–16 Uhr; offene Sprechstunde Di 14–17 Uhr",
            "Fr-Mo 9-12",
            "Mo 12-9",
            "Mo 25-26",
            "Mo 9:5-10",
            "Mo-Fr",
            "9-12",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn text_and_hsds_fields_round_trip() {
        let openings = parse("Mo–Do 9–16 Uhr, Fr 9:30–12 Uhr, Sa, So 10-11").unwrap();
        let text = to_text(&openings);
        assert_eq!(text, "Mo–Do 9–16 Uhr, Fr 9:30–12 Uhr, Sa, So 10–11 Uhr");
        assert_eq!(parse(&text).unwrap(), openings);
        for o in &openings {
            assert_eq!(
                WeeklyOpening::from_hsds(&o.byday(), &o.opens_at(), &o.closes_at()).as_ref(),
                Some(o)
            );
        }
        assert_eq!(
            WeeklyOpening::from_hsds("TH,FR", "10:00:00", "18:00+01:00"),
            Some(o(&[3, 4], 600, 1080))
        );
        assert_eq!(WeeklyOpening::from_hsds("XX", "10:00", "12:00"), None);
        assert_eq!(WeeklyOpening::from_hsds("MO", "12:00", "10:00"), None);
    }
}
