//! Money is exact: no `f32`/`f64` (nor float literals) anywhere in the SDK's
//! source, comments and string literals aside. This fails with the file and
//! line of any offender.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments, string and char literals blanked (newlines kept for line numbers).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, c: u8| out.push(if c == b'\n' { '\n' } else { ' ' });
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) && !prev_ident(b, i) {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                blank(&mut out, ch);
            }
            i = j;
        } else if c == b'"' {
            blank(&mut out, c);
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == b'\'' && is_char_literal(b, i) {
            let end = char_literal_end(b, i);
            for &ch in &b[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

fn prev_ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn is_char_literal(b: &[u8], i: usize) -> bool {
    // 'x', '\n', '\'' — but not lifetimes ('a, 'static).
    matches!((b.get(i + 1), b.get(i + 2)), (Some(b'\\'), _) | (Some(_), Some(b'\'')))
}

fn char_literal_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    if b.get(j) == Some(&b'\\') {
        j += 2;
    } else {
        j += 1;
    }
    while j < b.len() && b[j] != b'\'' {
        j += 1;
    }
    (j + 1).min(b.len())
}

/// Offending tokens: `f32`/`f64` as a word or literal suffix, and float literals like `1.5` or `2e3`.
fn offenders(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_alphabetic() || c == b'_' {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &line[s..i];
                if word == "f32" || word == "f64" {
                    found.push((n + 1, word.to_string()));
                }
            } else if c.is_ascii_digit() {
                let s = i;
                let after_dot = s > 0 && b[s - 1] == b'.';
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let mut token = line[s..i].to_string();
                // A fractional part: `1.5` (but not `1..2`, `x.0.1` or `1.max(2)`).
                if !after_dot && b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    let t = i + 1;
                    i += 1;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    token.push('.');
                    token.push_str(&line[t..i]);
                    found.push((n + 1, token));
                    continue;
                }
                let is_radix = token.starts_with("0x") || token.starts_with("0b") || token.starts_with("0o");
                // After the digits an integer literal can only carry `u..`/`i..`; `e` or `f` make it a float.
                let rest = token.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
                if !after_dot && !is_radix && rest.starts_with(['e', 'E', 'f']) {
                    found.push((n + 1, token));
                }
            } else {
                i += 1;
            }
        }
    }
    found
}

#[test]
fn the_sdk_source_has_no_floating_point() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() >= 8, "expected the SDK's modules under {}", root.display());
    let mut bad = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        for (line, token) in offenders(&code_only(&src)) {
            bad.push(format!("{}:{line}: {token}", f.display()));
        }
    }
    assert!(bad.is_empty(), "floating point in the SDK's money code:\n{}", bad.join("\n"));
}

#[test]
fn the_scanner_catches_what_it_must_and_ignores_comments() {
    let src = r#"
        let a: f64 = 1.5; // f32 in a comment is fine
        let b = 2f32;
        let c = 3e2;
        /* f64 in a block */ let d = "f64 in a string";
        let e = x.0.1; let f = 1..2; let g = 10_000i128; let h = 0xfe64; let k = 'f'; let l = 1e18 as u128; let m = 1e-3;
        fn t<'a>(x: &'a str) {}
    "#;
    let found: Vec<String> = offenders(&code_only(src)).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, vec!["f64", "1.5", "2f32", "3e2", "1e18", "1e"]);
}
