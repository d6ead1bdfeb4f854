//! Embeds the reading Worker's script (`src/web/read-worker.js`, see
//! `src/web/driver.js`) without its comments, blank lines and indentation:
//! the file stays readable in the tree, and the `.wasm` carries only code.
//! Only whole-line comments are dropped (`// ...` lines and `/* ... */`
//! blocks that start a line), so no string or expression is ever cut.

use std::path::Path;

fn main() {
    let source = "src/web/read-worker.js";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("src/web/read-worker.js is readable");
    let mut code = String::with_capacity(text.len());
    let mut in_comment = false;
    for line in text.lines().map(str::trim) {
        if in_comment {
            in_comment = !line.ends_with("*/");
        } else if line.starts_with("/*") {
            in_comment = !line.ends_with("*/");
        } else if !line.is_empty() && !line.starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("read-worker.js");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
