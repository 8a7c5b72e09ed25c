//! Zoom films: frames from one view to another, the span changing geometrically
//! (`View::film_frame`), each frame a whole poster (a PNG carrying its document) named
//! `frame-NNNNN.png` in one folder. Frames are independent, so a film shards by frame
//! (`--shard I/N` renders the frames whose number is I modulo N). The CLI and the window
//! record films through this one loop.

use std::path::{Path, PathBuf};

use crate::engine::geometry::View;
use crate::engine::render::{CancelToken, Engine};

use super::png::ExportError;
use super::poster::{PosterError, PosterJob, render_poster};

/// A zoom film to render.
#[derive(Debug, Clone)]
pub struct Film {
    /// Every frame's poster but its view (size, kernel, parameters, threads, palette,
    /// supersampling, band memory, format).
    pub poster: PosterJob,
    /// The first frame's view.
    pub start: View,
    /// The last frame's view.
    pub end: View,
    /// How many frames the whole film has (at least 2).
    pub frames: u32,
    /// This process's share (index, count) of the frames, or None for all of them.
    pub shard: Option<(u32, u32)>,
}

/// A frame just written, as passed to `render_film`'s observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilmFrame {
    /// The frame's number in the whole film.
    pub index: u32,
    /// Frames written so far by this call, this one included.
    pub done: u32,
    /// Frames this call writes (this shard's).
    pub total: u32,
}

impl Film {
    /// The frame numbers this process renders: all of them, or its shard's.
    pub fn frames_to_render(&self) -> Vec<u32> {
        (0..self.frames)
            .filter(|frame| {
                self.shard
                    .is_none_or(|(index, count)| count > 0 && frame % count == index)
            })
            .collect()
    }

    /// Where frame `index` is written in `folder`.
    pub fn frame_path(folder: &Path, index: u32) -> PathBuf {
        folder.join(format!("frame-{index:05}.png"))
    }
}

/// Renders the film's frames (this shard's) into `folder`, made if missing, one after the
/// other, calling `on_frame` after each. Returns how many frames were written.
pub fn render_film(
    engine: &Engine,
    film: &Film,
    folder: &Path,
    cancel: &CancelToken,
    on_frame: &mut dyn FnMut(FilmFrame),
) -> Result<u32, PosterError> {
    std::fs::create_dir_all(folder).map_err(|source| ExportError::Io {
        path: folder.to_owned(),
        source,
    })?;
    let frames = film.frames_to_render();
    let total = frames.len() as u32;
    for (done, &index) in (1..).zip(&frames) {
        let mut poster = film.poster.clone();
        poster.request.view = Some(View::film_frame(&film.start, &film.end, index, film.frames));
        render_poster(
            engine,
            &poster,
            &Film::frame_path(folder, index),
            cancel,
            &mut |_| {},
        )?;
        on_frame(FilmFrame { index, done, total });
    }
    Ok(total)
}
