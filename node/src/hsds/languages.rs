//! Languages between Lotse and HSDS: names as agencies write them, and ISO 639 codes.
//!
//! Lotse stores a service's languages as the agency typed them, usually German names
//! ("Arabisch", "Dari"), sometimes codes ("ar"). HSDS's `language` object has a `name` and
//! an ISO 639-1 or 639-3 `code`. [`KNOWN`] is the one table between them: the languages of
//! migration counselling in Germany, with their German and English names. Export keeps the
//! agency's text as `name` and adds the code where the table knows it; import prefers the
//! code and writes the German name, so a Lotse directory reads the same after a round
//! trip. A language the table does not know is exported without a code and imported by
//! its name, unchanged.

/// ISO 639 code, German name, English name.
pub const KNOWN: &[(&str, &str, &str)] = &[
    ("de", "Deutsch", "German"),
    ("en", "Englisch", "English"),
    ("ar", "Arabisch", "Arabic"),
    ("tr", "Türkisch", "Turkish"),
    ("fa", "Farsi", "Persian"),
    ("prs", "Dari", "Dari"),
    ("ps", "Paschtu", "Pashto"),
    ("ku", "Kurdisch", "Kurdish"),
    ("kmr", "Kurmandschi", "Northern Kurdish"),
    ("ckb", "Sorani", "Central Kurdish"),
    ("uk", "Ukrainisch", "Ukrainian"),
    ("ru", "Russisch", "Russian"),
    ("pl", "Polnisch", "Polish"),
    ("ro", "Rumänisch", "Romanian"),
    ("bg", "Bulgarisch", "Bulgarian"),
    ("sr", "Serbisch", "Serbian"),
    ("hr", "Kroatisch", "Croatian"),
    ("bs", "Bosnisch", "Bosnian"),
    ("sq", "Albanisch", "Albanian"),
    ("el", "Griechisch", "Greek"),
    ("it", "Italienisch", "Italian"),
    ("es", "Spanisch", "Spanish"),
    ("pt", "Portugiesisch", "Portuguese"),
    ("fr", "Französisch", "French"),
    ("ti", "Tigrinya", "Tigrinya"),
    ("am", "Amharisch", "Amharic"),
    ("so", "Somali", "Somali"),
    ("sw", "Suaheli", "Swahili"),
    ("ur", "Urdu", "Urdu"),
    ("hi", "Hindi", "Hindi"),
    ("bn", "Bengalisch", "Bengali"),
    ("ta", "Tamil", "Tamil"),
    ("zh", "Chinesisch", "Chinese"),
    ("vi", "Vietnamesisch", "Vietnamese"),
    ("hy", "Armenisch", "Armenian"),
    ("ka", "Georgisch", "Georgian"),
    ("az", "Aserbaidschanisch", "Azerbaijani"),
    ("rom", "Romanes", "Romani"),
    ("gsg", "Deutsche Gebärdensprache", "German Sign Language"),
];

fn entry(text: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let t = text.trim().to_lowercase();
    KNOWN
        .iter()
        .find(|(code, de, en)| *code == t || de.to_lowercase() == t || en.to_lowercase() == t)
}

/// The ISO code of a language as Lotse stores it (a name or a code), if the table knows it.
pub fn code_of(stored: &str) -> Option<&'static str> {
    entry(stored).map(|e| e.0)
}

/// The name to show for a language as Lotse stores it: a code becomes its German name,
/// a name stays as the agency wrote it.
pub fn display_name(stored: &str) -> String {
    match entry(stored) {
        Some((code, de, _)) if code.eq_ignore_ascii_case(stored.trim()) => de.to_string(),
        _ => stored.trim().to_string(),
    }
}

/// The Lotse value for an HSDS `language` with this name and code: the German name if
/// the code or the name is known, else the name as given, else the code; `None` if both
/// are empty.
pub fn from_hsds(name: Option<&str>, code: Option<&str>) -> Option<String> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    if let Some(e) = code.and_then(entry) {
        return Some(e.1.to_string());
    }
    if let Some(n) = name {
        return Some(
            entry(n)
                .map(|e| e.1.to_string())
                .unwrap_or_else(|| n.to_string()),
        );
    }
    code.map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_map_both_ways() {
        assert_eq!(code_of("Arabisch"), Some("ar"));
        assert_eq!(code_of(" dari "), Some("prs"));
        assert_eq!(code_of("ar"), Some("ar"));
        assert_eq!(code_of("Klingonisch"), None);
        assert_eq!(display_name("uk"), "Ukrainisch");
        assert_eq!(display_name("Farsi"), "Farsi");
        assert_eq!(
            from_hsds(Some("Arabic"), Some("ar")).as_deref(),
            Some("Arabisch")
        );
        assert_eq!(from_hsds(Some("Persian"), None).as_deref(), Some("Farsi"));
        assert_eq!(
            from_hsds(Some("Klingonisch"), Some("tlh")).as_deref(),
            Some("Klingonisch")
        );
        assert_eq!(from_hsds(None, Some("tlh")).as_deref(), Some("tlh"));
        assert_eq!(from_hsds(Some(" "), None), None);
        for (_, de, _) in KNOWN {
            assert_eq!(from_hsds(Some(de), code_of(de)).as_deref(), Some(*de));
        }
    }
}
