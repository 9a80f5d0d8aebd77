//! `doppel generate --where`, `--seed-data` and `doppel impute` from the command line: the rows
//! keep to the conditions and seeds, bad ones are refused before anything is written, and a
//! seed or imputed input is never overwritten.

mod common;
use common::{assert_refused, doppel, stderr, write_input};

/// A directory with `in.csv` and a model `m.doppel` trained on random column orders.
fn trained() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    std::fs::write(dir.path().join("c.toml"), "[training]\nrandom_order_share = 0.5\n")
        .expect("write config");
    let args = ["train", "--input", "in.csv", "--model", "m.doppel", "--config", "c.toml"];
    let out = doppel(&[&args[..], &["--epochs", "2"]].concat(), dir.path());
    assert!(out.status.success(), "training failed: {}", stderr(&out));
    dir
}

fn lines(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("read output");
    text.lines().map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn where_conditions_hold_on_every_row() {
    let dir = trained();
    let args = ["generate", "--model", "m.doppel", "--rows", "200", "--output", "out.csv"];
    let conditions = ["--where", "colour in (red, blue)", "--where", "count >= 30"];
    let out = doppel(&[&args[..], &conditions].concat(), dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lines(&dir.path().join("out.csv"));
    assert_eq!(rows[0], ["colour", "size", "count"]);
    assert_eq!(rows.len(), 201);
    for row in &rows[1..] {
        assert!(row[0] == "red" || row[0] == "blue", "{row:?}");
        assert!(row[2].parse::<i64>().expect("an integer") >= 30, "{row:?}");
    }
}

#[test]
fn seed_rows_come_out_exactly_one_row_each() {
    let dir = trained();
    std::fs::write(dir.path().join("seed.csv"), "size,colour\nM,\nS,green\n,red\n").expect("seed");
    let args = ["generate", "--model", "m.doppel", "--seed-data", "seed.csv", "--output", "o.csv"];
    let out = doppel(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lines(&dir.path().join("o.csv"));
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[1][1], "M");
    assert_eq!((rows[2][0].as_str(), rows[2][1].as_str()), ("green", "S"));
    assert_eq!(rows[3][0], "red");
    assert!(rows[1..].iter().all(|r| r.iter().all(|c| !c.is_empty())), "{rows:?}");
    // --rows must agree with the seed, and the seed is never the output.
    let out = doppel(&[&args[..], &["--rows", "5"]].concat(), dir.path());
    assert_refused(&out, &["--rows 5", "3 seed rows"]);
    let over = ["generate", "--model", "m.doppel", "--seed-data", "seed.csv", "--output"];
    assert_refused(&doppel(&[&over[..], &["seed.csv"]].concat(), dir.path()), &["seed.csv"]);
    assert!(std::fs::read_to_string(dir.path().join("seed.csv")).unwrap().starts_with("size,"));
}

#[test]
fn impute_fills_only_the_missing_cells() {
    let dir = trained();
    std::fs::write(dir.path().join("holes.csv"), "colour,size,count\nred,,3\n,M,\nblue,S,7\n")
        .expect("holes");
    let args = ["impute", "--model", "m.doppel", "--input", "holes.csv", "--output", "f.csv"];
    let out = doppel(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lines(&dir.path().join("f.csv"));
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[1][0].as_str(), rows[1][2].as_str()), ("red", "3"));
    assert_eq!(rows[2][1], "M");
    assert_eq!(rows[3], ["blue", "S", "7"]);
    assert!(rows[1..].iter().all(|r| r.iter().all(|c| !c.is_empty())), "{rows:?}");
}

#[test]
fn impossible_conditions_and_bad_seeds_are_refused_before_writing() {
    let dir = trained();
    let args = ["generate", "--model", "m.doppel", "--rows", "10", "--output", "x.csv"];
    for (condition, needles) in [
        ("count > 1000", &["count", "no value"][..]),
        ("colour = purple", &["purple", "red"]),
        ("weight < 3", &["weight", "colour, size, count"]),
        ("colour ~ '('", &["cannot read the condition", "does not compile"]),
        ("colour ~ 'x.*'", &["colour", "no value"]),
        ("count <= size", &["cannot order 'count' and 'size'"]),
    ] {
        let out = doppel(&[&args[..], &["--where", condition]].concat(), dir.path());
        assert_refused(&out, needles);
        assert!(!dir.path().join("x.csv").exists());
    }
    std::fs::write(dir.path().join("bad.csv"), "colour,count\nred,3\nblue,many\n").expect("seed");
    let args = ["generate", "--model", "m.doppel", "--seed-data", "bad.csv", "--output", "y.csv"];
    assert_refused(&doppel(&args, dir.path()), &["seed row 2", "count", "many"]);
    assert!(!dir.path().join("y.csv").exists());
}

#[test]
fn constraints_in_the_config_hold_on_every_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path());
    let config = "constraints = [\"count >= 20\", \"colour matches 'r.*|b.*'\"]\n";
    std::fs::write(dir.path().join("c.toml"), config).expect("write config");
    let args = ["train", "--input", "in.csv", "--model", "m.doppel", "--config", "c.toml"];
    let out = doppel(&[&args[..], &["--epochs", "2"]].concat(), dir.path());
    assert!(out.status.success(), "training failed: {}", stderr(&out));
    let args = ["generate", "--model", "m.doppel", "--rows", "300", "--output", "out.csv"];
    let out = doppel(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = lines(&dir.path().join("out.csv"));
    assert_eq!(rows.len(), 301);
    for row in &rows[1..] {
        assert!(row[0] == "red" || row[0] == "blue", "{row:?}");
        assert!(row[2].parse::<i64>().expect("an integer") >= 20, "{row:?}");
    }
    // A constraint on a column the table lacks is refused before training.
    std::fs::write(dir.path().join("bad.toml"), "constraints = [\"weight > 3\"]\n").unwrap();
    let args = ["train", "--input", "in.csv", "--model", "n.doppel", "--config", "bad.toml"];
    assert_refused(&doppel(&args, dir.path()), &["weight"]);
}

#[test]
fn the_privacy_filter_drops_copies_and_tops_up() {
    let dir = trained();
    let args = ["generate", "--model", "m.doppel", "--rows", "200", "--output", "f.csv"];
    let filter = ["--filter-against", "in.csv", "--filter-distance", "0"];
    let out = doppel(&[&args[..], &filter].concat(), dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("the privacy filter dropped"), "{}", stderr(&out));
    let written = lines(&dir.path().join("f.csv"));
    assert_eq!(written.len(), 201);
    let training = lines(&dir.path().join("in.csv"));
    for row in &written[1..] {
        assert!(!training[1..].contains(row), "{row:?} copies a training row");
    }
    // The filter's table is an input: never the output.
    let over = ["generate", "--model", "m.doppel", "--rows", "5", "--output", "in.csv"];
    assert_refused(&doppel(&[&over[..], &filter].concat(), dir.path()), &["in.csv"]);
}
