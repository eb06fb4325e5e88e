//! The full-resolution save: decode the whole photo, cluster it at the chosen k, encode the
//! indexed PNG and write it atomically, reporting each stage to the UI. It runs on its own
//! named thread so a long save never holds up the previews, and it can be cancelled (on
//! quit, SIGTERM, SIGHUP…) before anything is written: see [`SaveCancel`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use super::{error_chain, panic_message, test_panic};
use crate::decode::{self, DecodeOptions};
use crate::msg::{Msg, SaveEvent, SaveRequest};
use crate::palette_png::{self, Effort};
use crate::quant::{self, Control, HistogramBuilder, Params, Progress};
use crate::text;

/// Stops saves when the app leaves, without waiting for their decoding or clustering.
///
/// A save checks the flag between stages and writes its file (temp file, then rename) only
/// while holding the write gate, after checking the flag once more. [`Self::cancel`] sets the
/// flag and then takes the gate: once it returns, no save is writing and none will start, so
/// the app may exit at once. Saves still decoding or clustering die with the process having
/// written nothing; a save that was already writing has finished its rename. A 13 MP photo's
/// decode is not interruptible and took 18 s in a debug build: quitting no longer waits for it.
#[derive(Debug, Default)]
pub struct SaveCancel {
    cancelled: AtomicBool,
    write_gate: Mutex<()>,
}

impl SaveCancel {
    /// Stop every save; returns once none is writing (or can start to).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        drop(
            self.write_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// True once [`Self::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Start saving on a new thread; `cancel` stops it before the file is written.
///
/// # Errors
/// Only if the OS refuses to start a thread.
pub fn spawn(
    request: SaveRequest,
    tx: Sender<Msg>,
    cancel: Arc<SaveCancel>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("kquant-save".into())
        .spawn(move || {
            let event = catch_unwind(AssertUnwindSafe(|| {
                test_panic("save");
                save(&request, &tx, &cancel)
            }))
            .unwrap_or_else(|payload| Err(format!("internal error: {}", panic_message(&*payload))));
            let event = match event {
                Ok(Some(done)) => done,
                // Cancelled: the app is leaving, nobody is listening.
                Ok(None) => return,
                Err(error) => SaveEvent::Failed(text::sanitize(&error).into_owned()),
            };
            // The UI may be gone at shutdown; the file is already written or not.
            let _ = tx.send(Msg::Save(event));
        })
}

fn save(
    request: &SaveRequest,
    tx: &Sender<Msg>,
    cancel: &SaveCancel,
) -> Result<Option<SaveEvent>, String> {
    let progress = |text: String| {
        let _ = tx.send(Msg::Save(SaveEvent::Progress(text)));
    };
    let name = text::sanitize_path(
        request
            .path
            .file_name()
            .map_or(request.path.as_path(), Path::new),
    );
    progress(format!("saving {name}: decoding at full resolution…"));
    // The histogram is counted band by band while the rest of the image still decodes.
    let histogram = HistogramBuilder::default();
    let pixels = decode::decode_pixels_banded(&request.path, &DecodeOptions::default(), &|b| {
        histogram.add(b);
    })
    .map_err(|e| error_chain(&e))?;
    let is_cancelled = || cancel.is_cancelled();
    // The decode cannot be interrupted; quitting during it should not wait for more.
    if is_cancelled() {
        return Ok(None);
    }
    progress(format!("saving {name}: clustering k={}…", request.k));
    let histogram = histogram.finish();
    let params = Params {
        space: request.space,
        dither: request.dither,
        ..Params::new(request.k)
    };
    let report = |p: &Progress<'_>| {
        progress(format!(
            "saving {name}: clustering k={}, iteration {}…",
            request.k, p.iteration
        ));
    };
    let Ok(quantized) = quant::quantize_with(
        &pixels,
        &histogram,
        &params,
        &Control::new(&is_cancelled, &report),
    ) else {
        return Ok(None);
    };
    progress(format!("saving {name}: writing PNG…"));
    // The kept file gets the slower, smaller encoding (the previews use the fast one).
    let bytes = palette_png::encode_with(&quantized, pixels.alpha.as_deref(), Effort::Small)
        .map_err(|e| error_chain(&e))?;
    // Held until the file is renamed into place: quitting waits for this part only.
    let _writing = cancel
        .write_gate
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if is_cancelled() {
        return Ok(None);
    }
    palette_png::save_atomic(
        &bytes,
        &request.root,
        &request.dest,
        &[request.path.as_path()],
    )
    .map_err(|e| error_chain(&e))?;
    Ok(Some(SaveEvent::Done {
        dest: text::sanitize_path(&request.dest),
        bytes: bytes.len() as u64,
        psnr: quantized.psnr,
    }))
}
