//! kquant binary: parse the command line, dispatch, map results to exit codes.
//!
//! `kquant [DIR]` opens the terminal browser; `kquant compress` runs headless.
//! Exit status: 0 when every file succeeded (or the browser was left normally), 1 when any
//! file failed (or the terminal could not be used), 2 for usage errors (including starting
//! the browser without a terminal, or on `TERM=dumb`). The browser ended by a signal
//! (SIGTERM, SIGHUP, SIGINT, SIGQUIT) restores the terminal, then dies of that signal, so the
//! shell sees what happened (status 128 + n).
//! Every file-derived string is sanitised (see `kquant::text`) before it is printed.

use std::io::{self, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use indicatif::{ProgressBar, ProgressStyle};
use kquant::batch::{self, Failure, Outcome, Report};
use kquant::cli::{Cli, Command};
use kquant::text::{sanitize, sanitize_path};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap exits 2 for usage errors and 0 for --help/--version.
        Err(e) => e.exit(),
    };
    match cli.into_command() {
        Command::Tui(options) => tui(options),
        Command::Compress { settings, json } => compress(&settings, json),
    }
}

/// The terminal browser on one folder.
fn tui(options: kquant::runtime::Options) -> ExitCode {
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        report("the browser needs a terminal; `kquant compress` works without one");
        return ExitCode::from(2);
    }
    // A dumb terminal (Emacs' shell, some CI consoles) cannot move the cursor: the browser
    // would print escape codes as text.
    if std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
        report(
            "TERM=dumb: this terminal cannot show the browser; run it in a full terminal, or \
             use `kquant compress`",
        );
        return ExitCode::from(2);
    }
    if !options.root.is_dir() {
        report(&format!("{}: not a folder", sanitize_path(&options.root)));
        return ExitCode::from(2);
    }
    match kquant::runtime::run(options) {
        Ok(kquant::app::Exit::Signal(signal)) => {
            // The terminal is restored; now die of the signal as if it had never been caught
            // (a shell loop stops on a child killed by SIGINT). Not SIGQUIT: its default
            // action dumps core, and a photo browser's core can be huge; 131 says the same.
            if signal != signal_hook::consts::SIGQUIT {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            report(&sanitize(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

/// `kquant: message` on stderr. Unlike `eprintln!`, a stderr that is gone (the SSH session
/// dropped) is not a panic: there is nobody left to tell.
fn report(message: &str) {
    let _ = writeln!(io::stderr(), "kquant: {message}");
}

fn compress(settings: &batch::Settings, json: bool) -> ExitCode {
    // A panic (caught per file by the batch) is still printed by the hook; the default hook
    // would print its message raw, and it may quote bytes from a file.
    std::panic::set_hook(Box::new(|info| {
        report(&sanitize(&format!("internal error: {info}")));
    }));
    // SIGINT/SIGTERM/SIGHUP cancel the run: files in flight leave no temp file, exit 128 + sig.
    let interrupt = batch::Interrupt::install().unwrap_or_default();
    let plan = batch::plan_cancellable(&settings.inputs, &settings.out_dir, &|| interrupt.is_set());
    // Interrupted already: the walk stopped early, so more files may exist than were found.
    let searched_all = !interrupt.is_set();
    for f in &plan.failures {
        warn(&failure_line(f));
    }
    let bar = if io::stderr().is_terminal() {
        let bar = ProgressBar::new(plan.jobs.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {wide_msg}")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let on_done = |r: Result<&Outcome, &Failure>| {
        let print = || {
            if let Err(f) = r {
                warn(&failure_line(f));
            }
        };
        match &bar {
            Some(bar) => {
                bar.suspend(print);
                if let Ok(o) = r {
                    bar.set_message(sanitize_path(&o.input));
                }
                bar.inc(1);
            }
            None => print(),
        }
    };
    let mut report = batch::run_cancellable(&plan.jobs, settings, &|| interrupt.is_set(), &on_done);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut failures = plan.failures;
    failures.append(&mut report.failures);
    report.failures = failures;

    let out = if json {
        json_report(&report)
    } else {
        table(&report)
    };
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    // A closed pipe (`kquant ... | head`) is not an error worth reporting; anything else (a
    // full disk) would lose the table or the JSON without a word.
    let lost = written.is_err_and(|e| {
        let lost = e.kind() != io::ErrorKind::BrokenPipe;
        if lost {
            warn(&format!("kquant: cannot write the summary: {e}"));
        }
        lost
    });
    if let Some(code) = interrupt.exit_code() {
        let when = if searched_all {
            ""
        } else {
            " before every folder was searched"
        };
        warn(&format!(
            "kquant: interrupted{when}; {} file(s) not compressed",
            report.cancelled
        ));
        return ExitCode::from(code);
    }
    if report.failures.is_empty() && !lost {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One line on stderr. A closed stderr (`2>&1 | head`) must not stop the run: `eprintln!`
/// would panic there, so write errors are ignored.
fn warn(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// `path: cause` with the whole cause chain (like anyhow's `{:#}`), sanitised.
fn failure_line(f: &Failure) -> String {
    sanitize(&format!(
        "{}: {}",
        f.path.to_string_lossy(),
        chain(&f.error)
    ))
    .into_owned()
}

/// `error: source: source...`, the shape anyhow prints with `{:#}`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

fn human_bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if n >= 1 << 20 {
        format!("{:.1} MiB", f / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn psnr_text(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.2} dB")
    } else {
        "lossless".to_owned()
    }
}

fn table(report: &Report) -> String {
    let header = [
        "file", "pixels", "k", "colours", "original", "output", "ratio", "PSNR", "time",
    ];
    let mut rows: Vec<[String; 9]> = report
        .outcomes
        .iter()
        .map(|o| {
            [
                sanitize_path(&o.input),
                format!("{}x{}", o.width, o.height),
                o.k.to_string(),
                o.colours.to_string(),
                human_bytes(o.original_bytes),
                human_bytes(o.output_bytes),
                format!("{:.1}%", o.ratio() * 100.0),
                psnr_text(o.psnr),
                format!("{:.2}s", o.elapsed.as_secs_f64()),
            ]
        })
        .collect();
    let orig: u64 = report.outcomes.iter().map(|o| o.original_bytes).sum();
    let outb: u64 = report.outcomes.iter().map(|o| o.output_bytes).sum();
    #[allow(clippy::cast_precision_loss)]
    let ratio = if orig > 0 {
        format!("{:.1}%", outb as f64 / orig as f64 * 100.0)
    } else {
        String::new()
    };
    rows.push([
        format!(
            "total: {} ok, {} failed",
            report.outcomes.len(),
            report.failures.len()
        ),
        String::new(),
        String::new(),
        String::new(),
        human_bytes(orig),
        human_bytes(outb),
        ratio,
        String::new(),
        String::new(),
    ]);
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // First column left-aligned, numbers right-aligned.
            if i == 0 {
                out.push_str(&format!("{cell:<w$}"));
            } else {
                out.push_str(&format!("  {cell:>w$}"));
            }
        }
        // The total row leaves trailing cells empty.
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    out
}

/// JSON string literal: RFC 8259 escaping, plus `\uXXXX` for DEL, C1 and bidi/format
/// characters so the raw document is terminal-safe (see `text::json_string`).
fn json_str(s: &str) -> String {
    kquant::text::json_string(s)
}

fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_owned()
    }
}

fn json_report(report: &Report) -> String {
    let files: Vec<String> = report
        .outcomes
        .iter()
        .map(|o| {
            format!(
                "{{\"input\":{},\"output\":{},\"width\":{},\"height\":{},\"pixels\":{},\"k\":{},\"colours\":{},\
                 \"original_bytes\":{},\"output_bytes\":{},\"ratio\":{},\"psnr\":{},\"seconds\":{}}}",
                json_str(&o.input.to_string_lossy()),
                json_str(&o.output.to_string_lossy()),
                o.width,
                o.height,
                o.pixels,
                o.k,
                o.colours,
                o.original_bytes,
                o.output_bytes,
                json_f64(o.ratio()),
                json_f64(o.psnr),
                json_f64(o.elapsed.as_secs_f64()),
            )
        })
        .collect();
    let errors: Vec<String> = report
        .failures
        .iter()
        .map(|f| {
            format!(
                "{{\"path\":{},\"error\":{}}}",
                json_str(&f.path.to_string_lossy()),
                json_str(&chain(&f.error))
            )
        })
        .collect();
    format!(
        "{{\"files\":[{}],\"errors\":[{}],\"ok\":{},\"failed\":{}}}\n",
        files.join(","),
        errors.join(","),
        report.outcomes.len(),
        report.failures.len()
    )
}
