//! What the benchmark examples share: their sizes from the command line and the TSV file that
//! scripts/bench/all.sh collects.

use std::fs::File;
use std::io::Write;

/// The sizes given as arguments, or 1,000.
pub fn sizes() -> Result<Vec<u32>, std::num::ParseIntError> {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    Ok(if sizes.is_empty() { vec![1000] } else { sizes })
}

/// With `BENCH_OUT` set, `$BENCH_OUT/NAME.tsv` opened for appending (the header written when the
/// file is new); `None` otherwise.
pub fn tsv(name: &str, header: &[&str]) -> std::io::Result<Option<File>> {
    let Some(dir) = std::env::var_os("BENCH_OUT") else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir)?;
    let path = std::path::Path::new(&dir).join(format!("{name}.tsv"));
    let fresh = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if fresh {
        writeln!(file, "{}", header.join("\t"))?;
    }
    Ok(Some(file))
}
