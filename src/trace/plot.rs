//! # Plot frame for the graphs (analysis layer)
//!
//! Layer: analysis, offline. Job: the axes of an x/y graph in SVG 1.1: data-to-pixel scales,
//! "nice" ticks (1, 2 or 5 times a power of ten), grid, labels and a legend. The graphs of
//! [`super::graph`] draw their series inside it. Hand-written for the same reasons as the
//! ladder picture: few element kinds, byte-stable output, identical rendering everywhere.

use std::fmt::Write as _;

/// Width and height of every graph, pixels.
pub const WIDTH: f64 = 960.0;
/// Height of every graph, pixels.
pub const HEIGHT: f64 = 600.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;

/// Escapes text for XML.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Data ranges mapped onto the plot area.
#[derive(Clone, Copy, Debug)]
pub struct Plot {
    /// Smallest x shown.
    pub x0: f64,
    /// Largest x shown.
    pub x1: f64,
    /// Smallest y shown.
    pub y0: f64,
    /// Largest y shown.
    pub y1: f64,
}

impl Plot {
    /// A plot showing `xs` (with a little room either side) and `ys` from 0 or below (with a
    /// little room above); empty or flat ranges are widened.
    pub fn fit(
        xs: impl Iterator<Item = f64> + Clone,
        ys: impl Iterator<Item = f64> + Clone,
    ) -> Plot {
        let lo = |it: &mut dyn Iterator<Item = f64>| it.fold(f64::INFINITY, f64::min);
        let hi = |it: &mut dyn Iterator<Item = f64>| it.fold(f64::NEG_INFINITY, f64::max);
        let (mut x0, mut x1) = (lo(&mut xs.clone()), hi(&mut xs.clone()));
        if !x0.is_finite() {
            x0 = 0.0;
        }
        let (mut y0, mut y1) = (lo(&mut ys.clone()).min(0.0), hi(&mut ys.clone()));
        if !x1.is_finite() || x1 <= x0 {
            x1 = x0 + 1e-3;
        }
        let pad = (x1 - x0) * 0.02;
        (x0, x1) = (x0 - pad, x1 + pad);
        if !y1.is_finite() || y1 <= y0 {
            y1 = y0.max(0.0) + 1.0;
            y0 = y0.min(0.0);
        }
        y1 += (y1 - y0) * 0.05;
        Plot { x0, x1, y0, y1 }
    }

    /// Pixel x of data `v`.
    pub fn x(&self, v: f64) -> f64 {
        LEFT + (v - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)
    }

    /// Pixel y of data `v`.
    pub fn y(&self, v: f64) -> f64 {
        HEIGHT - BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
    }

    /// Top of the plot area, pixels.
    pub fn top(&self) -> f64 {
        TOP
    }

    /// Bottom of the plot area, pixels.
    pub fn bottom(&self) -> f64 {
        HEIGHT - BOTTOM
    }

    /// The document's opening, background, title, grid, ticks and axis labels.
    pub fn open(&self, title: &str, x_label: &str, y_label: &str) -> String {
        let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{WIDTH:.0}\" \
             height=\"{HEIGHT:.0}\" viewBox=\"0 0 {WIDTH:.0} {HEIGHT:.0}\" font-family=\"sans-serif\" \
             font-size=\"11\">\n<title>{t}</title>\n<rect x=\"0\" y=\"0\" width=\"{WIDTH:.0}\" \
             height=\"{HEIGHT:.0}\" fill=\"#ffffff\"/>\n<text x=\"{LEFT}\" y=\"24\" font-size=\"15\" \
             font-weight=\"bold\">{t}</text>",
            t = esc(title)
        );
        let (l, r, t, b) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        for v in ticks(self.x0, self.x1) {
            let x = self.x(v);
            let _ = writeln!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{t}\" x2=\"{x:.1}\" y2=\"{b}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                b + 16.0,
                fmt_tick(v)
            );
        }
        for v in ticks(self.y0, self.y1) {
            let y = self.y(v);
            let _ = writeln!(
                o,
                "<line x1=\"{l}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                l - 6.0,
                y + 4.0,
                fmt_tick(v)
            );
        }
        let _ = writeln!(
            o,
            "<rect x=\"{l}\" y=\"{t}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#000000\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"20\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {:.1})\">{}</text>",
            r - l,
            b - t,
            (l + r) / 2.0,
            b + 40.0,
            esc(x_label),
            (t + b) / 2.0,
            (t + b) / 2.0,
            esc(y_label)
        );
        o
    }

    /// A legend row of `(colour, text)` along the top.
    pub fn legend(&self, items: &[(&str, &str)]) -> String {
        let mut o = String::new();
        let mut x = LEFT;
        for (color, text) in items {
            let _ = writeln!(
                o,
                "<rect x=\"{x:.1}\" y=\"36\" width=\"14\" height=\"8\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"44\">{}</text>",
                x + 18.0,
                esc(text)
            );
            x += 30.0 + 6.5 * text.len() as f64;
        }
        o
    }
}

/// Tick values between `lo` and `hi`: multiples of 1, 2 or 5 times a power of ten, 3 to 9 of
/// them.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return vec![lo];
    }
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 8.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last.min(first + 20))
        .map(|k| k as f64 * step)
        .collect()
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1.0 && v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            ticks(0.0, 1.0),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(0.0, 3686.0);
        assert!(t.len() >= 4 && t.len() <= 11, "{t:?}");
        assert!(t.iter().all(|v| (0.0..=3686.0).contains(v)));
        assert_eq!(ticks(5.0, 5.0), vec![5.0]);
        assert_eq!(fmt_tick(20000.0), "20k");
        assert_eq!(fmt_tick(0.035), "0.035");
    }
}
