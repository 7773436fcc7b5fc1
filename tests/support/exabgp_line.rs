//! An independent checker of the ExaBGP API lines our encoder may write, shared by the tenancy
//! tests and the fuzz targets (`fuzz/`, through `#[path]`).
//!
//! It accepts exactly the encoder's grammar and nothing more:
//!
//! ```text
//! TARGET (announce|withdraw) route PREFIX next-hop NH ATTRS
//! TARGET (announce|withdraw) attributes next-hop NH ATTRS nlri PREFIX+
//! TARGET = neighbor * | neighbor IP(, neighbor IP)*
//! ATTRS  = [med N] [local-preference N] [community [ C+ ]] [extended-community [ E+ ]]
//!          [large-community [ L+ ]] [as-path [ ASN+ ]] [path-information N]    (in this order;
//!          a `route` withdraw carries path-information only, an `attributes` one all of them)
//! ```
//!
//! Values are re-parsed with their own parsers (`std` for numbers and addresses, the typed
//! community parsers for list items), so a word that is not in the vocabulary fails the check.
//! It is written without looking at the encoder's code paths, so that the two disagree when either
//! is wrong.

use std::net::IpAddr;

use ipnet::IpNet;
use kube_anycast::exabgp::attrs::{Community, ExtendedCommunity, LargeCommunity};

/// What a well-formed line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `announce` (true) or `withdraw`.
    pub announce: bool,
    /// The neighbors, empty for `neighbor *`.
    pub neighbors: Vec<IpAddr>,
    /// The prefixes the line is about.
    pub prefixes: Vec<IpNet>,
}

/// Optional attribute sections, in the only order the encoder writes them.
const SECTIONS: [&str; 7] = [
    "med",
    "local-preference",
    "community",
    "extended-community",
    "large-community",
    "as-path",
    "path-information",
];

/// Checks one API line, newline included. The error says what is wrong, with the line.
pub fn check_line(line: &str) -> Result<Checked, String> {
    let fail = |why: &str| Err(format!("{why}: {line:?}"));
    let Some(body) = line.strip_suffix('\n') else {
        return fail("no trailing newline");
    };
    if body.contains('\n') || body.contains(';') {
        return fail("a newline or ';' inside the line (a second command)");
    }
    if !body.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return fail("a control or non-ASCII character");
    }
    if body.matches('[').count() != body.matches(']').count() {
        return fail("unbalanced brackets");
    }
    let words: Vec<&str> = body.split(' ').collect();
    if words.iter().any(|w| w.is_empty()) {
        return fail("an empty word (leading, trailing or double space)");
    }
    check_words(&words).map_err(|why| format!("{why}: {line:?}"))
}

fn check_words(words: &[&str]) -> Result<Checked, String> {
    let mut at = 0;
    let neighbors = check_target(words, &mut at)?;
    let announce = match words.get(at) {
        Some(&"announce") => true,
        Some(&"withdraw") => false,
        w => return Err(format!("expected announce or withdraw, got {w:?}")),
    };
    at += 1;
    let bulk = match words.get(at) {
        Some(&"route") => false,
        Some(&"attributes") => true,
        w => return Err(format!("expected route or attributes, got {w:?}")),
    };
    at += 1;
    let mut prefixes = Vec::new();
    if !bulk {
        prefixes.push(parse_prefix(words.get(at))?);
        at += 1;
    }
    expect(words, &mut at, "next-hop")?;
    match words.get(at) {
        Some(&"self") => {}
        Some(w) if w.parse::<IpAddr>().is_ok() => {}
        w => return Err(format!("next-hop {w:?} is neither self nor an address")),
    }
    at += 1;
    // The bulk withdraw repeats the announce's attributes (ExaBGP queues changes per set).
    check_sections(words, &mut at, announce || bulk)?;
    if bulk {
        expect(words, &mut at, "nlri")?;
        while at < words.len() {
            prefixes.push(parse_prefix(words.get(at))?);
            at += 1;
        }
        if prefixes.is_empty() {
            return Err("nlri without prefixes".into());
        }
    }
    if at != words.len() {
        return Err(format!("trailing words {:?}", &words[at..]));
    }
    Ok(Checked {
        announce,
        neighbors,
        prefixes,
    })
}

fn check_target(words: &[&str], at: &mut usize) -> Result<Vec<IpAddr>, String> {
    expect(words, at, "neighbor")?;
    if words.get(*at) == Some(&"*") {
        *at += 1;
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    loop {
        let word = words.get(*at).ok_or("target ends early")?;
        let (ip, more) = match word.strip_suffix(',') {
            Some(ip) => (ip, true),
            None => (*word, false),
        };
        out.push(
            ip.parse::<IpAddr>()
                .map_err(|_| format!("neighbor {ip:?} is not an address"))?,
        );
        *at += 1;
        if !more {
            return Ok(out);
        }
        expect(words, at, "neighbor")?;
    }
}

fn check_sections(words: &[&str], at: &mut usize, all_allowed: bool) -> Result<(), String> {
    let mut next = 0;
    while let Some(word) = words.get(*at) {
        let Some(i) = SECTIONS.iter().position(|s| s == word) else {
            return Ok(());
        };
        if i < next {
            return Err(format!("{word} out of order or repeated"));
        }
        if !all_allowed && *word != "path-information" {
            return Err(format!("{word} on a route withdraw"));
        }
        next = i + 1;
        *at += 1;
        match *word {
            "med" | "local-preference" | "path-information" => {
                let n = words.get(*at).ok_or("number missing")?;
                n.parse::<i64>()
                    .map_err(|_| format!("{word} {n:?} is not a number"))?;
                *at += 1;
            }
            _ => check_list(words, at, word)?,
        }
    }
    Ok(())
}

/// `[ item+ ]`, each item valid for its attribute.
fn check_list(words: &[&str], at: &mut usize, what: &str) -> Result<(), String> {
    expect(words, at, "[")?;
    let mut n = 0;
    while let Some(item) = words.get(*at).filter(|w| **w != "]") {
        let ok = match what {
            "community" => item.parse::<Community>().is_ok(),
            "extended-community" => item.parse::<ExtendedCommunity>().is_ok(),
            "large-community" => item.parse::<LargeCommunity>().is_ok(),
            _ => item.parse::<u32>().is_ok() && item.bytes().all(|b| b.is_ascii_digit()),
        };
        if !ok {
            return Err(format!("{item:?} is not a valid {what} value"));
        }
        n += 1;
        *at += 1;
    }
    expect(words, at, "]")?;
    if n == 0 {
        return Err(format!("empty {what} list"));
    }
    Ok(())
}

fn parse_prefix(word: Option<&&str>) -> Result<IpNet, String> {
    let word = word.ok_or("prefix missing")?;
    let net: IpNet = word
        .parse()
        .map_err(|_| format!("{word:?} is not a prefix"))?;
    // The encoder writes the canonical form; anything else was not written by it.
    if net.to_string() != *word || net.trunc() != net {
        return Err(format!(
            "{word:?} is not a canonical prefix without host bits"
        ));
    }
    Ok(net)
}

fn expect(words: &[&str], at: &mut usize, want: &str) -> Result<(), String> {
    match words.get(*at) {
        Some(w) if *w == want => {
            *at += 1;
            Ok(())
        }
        w => Err(format!("expected {want:?}, got {w:?}")),
    }
}
