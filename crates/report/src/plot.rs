//! Report figures, each written as `<stem>.png` and `<stem>.svg`.
//!
//! [`line`]: few-shot curves (accuracy vs shots, one line per level, optional error bars and log2 x axis);
//! [`histogram`]: distribution of a value per group (e.g. Lin similarity of each level's concepts to the
//! seen set); [`bars`]: grouped bar chart (e.g. the CoG table, one bar per backbone in each level).
//! Text uses the bundled DejaVu Sans font, registered once with plotters' `ab_glyph` backend.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use hiercog_io::{write_atomic, AtomicPath};

use crate::{Error, Result};

/// One line of a [`line`] plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend's entry.
    pub label: String,
    /// `(x, y)` points, drawn in the given order.
    pub points: Vec<(f64, f64)>,
    /// Half-height of an error bar per point (e.g. std over seeds); same length as `points`.
    pub err: Option<Vec<f64>>,
}

/// Options of a [`line`] plot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineOptions {
    /// Log2 x axis with ticks at powers of two (shots 1, 2, 4, ... 128).
    pub log2_x: bool,
    /// Dashed vertical markers `(x, label)`.
    pub vlines: Vec<(f64, String)>,
    /// Fixed y range (e.g. `(0, 100)` for accuracies); derived from the data when `None`.
    pub y_range: Option<(f64, f64)>,
}

const SIZE: (u32, u32) = (880, 560);
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Colour-blind-friendly categorical palette (matplotlib's tab10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TTF embedded at compile time; the unit test `font_registers` checks it.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

type DrawResult = std::result::Result<(), String>;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// The legend box, the same in every figure.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(e)
}

/// Something that can draw itself on any plotters backend (PNG and SVG share the code).
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Draws `fig` to `<stem>.png` and `<stem>.svg`, each atomically.
fn render(stem: &Path, fig: &impl Figure) -> Result<Vec<PathBuf>> {
    register_font();
    let png = with_ext(stem, "png");
    let svg = with_ext(stem, "svg");
    let plot_err = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| Error::Plot { path, message }
    };

    // The temporary keeps the `.png` extension: the encoder picks the format from it.
    let tmp = AtomicPath::new(&png)?;
    let drawn = (|| {
        let root = BitMapBackend::new(tmp.path(), SIZE).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(e)
    })();
    drawn.map_err(plot_err(&png))?;
    tmp.commit()?;

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        fig.draw(&root).map_err(plot_err(&svg))?;
        root.present().map_err(e).map_err(plot_err(&svg))?;
    }
    write_atomic(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}

fn bad(stem: &Path, message: String) -> Error {
    Error::BadInput {
        path: stem.to_path_buf(),
        message,
    }
}

/// `(lo, hi)` widened by `frac` of the span on each side; a zero span becomes ±0.5.
fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        (lo - 0.5, hi + 0.5)
    } else {
        let d = (hi - lo) * frac;
        (lo - d, hi + d)
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Line plot of `series` (few-shot curves), with error bars where `err` is given.
pub fn line(
    out_stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    opts: &LineOptions,
) -> Result<Vec<PathBuf>> {
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(bad(
            out_stem,
            "no points to draw: every series is empty".into(),
        ));
    }
    for s in series {
        if let Some(err) = &s.err {
            if err.len() != s.points.len() {
                return Err(bad(
                    out_stem,
                    format!(
                        "series {:?} has {} points but {} error values; give one error per point",
                        s.label,
                        s.points.len(),
                        err.len()
                    ),
                ));
            }
        }
        let errs = s.err.iter().flatten();
        if let Some(v) = s
            .points
            .iter()
            .flat_map(|&(x, y)| [x, y])
            .chain(errs.copied())
            .find(|v| !v.is_finite())
        {
            return Err(bad(
                out_stem,
                format!("series {:?} has a non-finite value {v}", s.label),
            ));
        }
        if opts.log2_x {
            if let Some(&(x, _)) = s.points.iter().find(|p| p.0 <= 0.0) {
                return Err(bad(
                    out_stem,
                    format!(
                        "series {:?} has x = {x} but a log2 x axis needs x > 0",
                        s.label
                    ),
                ));
            }
        }
    }
    let fig = LineFigure {
        title,
        x_label,
        y_label,
        series,
        opts,
    };
    render(out_stem, &fig)
}

struct LineFigure<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    opts: &'a LineOptions,
}

impl LineFigure<'_> {
    fn tx(&self, x: f64) -> f64 {
        if self.opts.log2_x {
            x.log2()
        } else {
            x
        }
    }
}

impl Figure for LineFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(e)?;
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| self.tx(p.0)));
        let vx = self
            .opts
            .vlines
            .iter()
            .map(|v| self.tx(v.0))
            .filter(|v| v.is_finite());
        let (x0, x1) = min_max(xs.chain(vx)).expect("checked non-empty");
        let (x0, x1) = padded(x0, x1, 0.04);
        let (y0, y1) = match self.opts.y_range {
            Some(r) => r,
            None => {
                let ys = self.series.iter().flat_map(|s| {
                    s.points.iter().enumerate().flat_map(move |(i, p)| {
                        let d = s.err.as_ref().map_or(0.0, |err| err[i]);
                        [p.1 - d, p.1 + d]
                    })
                });
                let (lo, hi) = min_max(ys).expect("checked non-empty");
                padded(lo, hi, 0.06)
            }
        };
        let log2 = self.opts.log2_x;
        // Log2 axes tick at powers of two; linear ones let plotters choose.
        let keys: Option<Vec<f64>> = log2.then(|| {
            (x0.ceil() as i64..=x1.floor() as i64)
                .map(|k| k as f64)
                .collect()
        });
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(Ticks::new(x0..x1, keys.clone()), y0..y1)
            .map_err(e)?;
        let fmt_x = |v: &f64| if log2 { fmt_num(v.exp2()) } else { fmt_num(*v) };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&|v: &f64| fmt_num(*v));
        mesh.draw().map_err(e)?;

        for (i, s) in self.series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (self.tx(x), y)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(e)?
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(e)?;
            if let Some(err) = &s.err {
                chart
                    .draw_series(pts.iter().zip(err).map(|(&(x, y), &d)| {
                        ErrorBar::new_vertical(x, y - d, y, y + d, c.stroke_width(1), 8)
                    }))
                    .map_err(e)?;
            }
        }
        for (x, label) in &self.opts.vlines {
            let x = self.tx(*x);
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    [(x, y0), (x, y1)],
                    6,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(e)?;
            let y_text = y1 - (y1 - y0) * 0.02;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (x, y_text),
                    (FONT, 14).into_font().color(&grey),
                )))
                .map_err(e)?;
        }
        if self.series.iter().any(|s| !s.label.is_empty()) {
            draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    }
}

/// A linear f64 axis with optional fixed tick positions (plotters' own `WithKeyPoints` cannot take a
/// custom label formatter on f64 axes).
struct Ticks {
    inner: plotters::coord::types::RangedCoordf64,
    keys: Option<Vec<f64>>,
}

impl Ticks {
    fn new(range: std::ops::Range<f64>, keys: Option<Vec<f64>>) -> Self {
        Ticks {
            inner: range.into(),
            keys,
        }
    }
}

impl Ranged for Ticks {
    type ValueType = f64;
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match &self.keys {
            Some(_) if hint.weight().allow_light_points() => Vec::new(),
            Some(k) => k.clone(),
            None => self.inner.key_points(hint),
        }
    }
}

/// Short tick label: integers without decimals, otherwise up to 3 significant decimals.
fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Overlaid histograms of `groups` (name, values) over common bins, one colour per group.
pub fn histogram(
    out_stem: &Path,
    title: &str,
    x_label: &str,
    groups: &[(String, Vec<f64>)],
    bins: usize,
) -> Result<Vec<PathBuf>> {
    if bins == 0 {
        return Err(bad(out_stem, "bins must be at least 1".into()));
    }
    if let Some((name, v)) = groups
        .iter()
        .find_map(|(n, vs)| vs.iter().find(|v| !v.is_finite()).map(|v| (n, v)))
    {
        return Err(bad(
            out_stem,
            format!("group {name:?} has a non-finite value {v}"),
        ));
    }
    let Some((lo, hi)) = min_max(groups.iter().flat_map(|g| g.1.iter().copied())) else {
        return Err(bad(
            out_stem,
            "no values to draw: every group is empty".into(),
        ));
    };
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let counts: Vec<Vec<usize>> = groups
        .iter()
        .map(|(_, vs)| {
            let mut c = vec![0usize; bins];
            for &v in vs {
                let b = (((v - lo) / width) as usize).min(bins - 1);
                c[b] += 1;
            }
            c
        })
        .collect();
    let fig = HistFigure {
        title,
        x_label,
        groups,
        counts,
        lo,
        width,
    };
    render(out_stem, &fig)
}

/// Bin counts per group, computed before drawing.
struct HistFigure<'a> {
    title: &'a str,
    x_label: &'a str,
    groups: &'a [(String, Vec<f64>)],
    counts: Vec<Vec<usize>>,
    lo: f64,
    width: f64,
}

impl Figure for HistFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(e)?;
        let bins = self.counts.first().map_or(0, Vec::len);
        let hi = self.lo + self.width * bins as f64;
        let ymax = self
            .counts
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64
            * 1.08;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(self.lo..hi, 0.0..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc("count")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .y_label_formatter(&|v: &f64| fmt_num(*v))
            .x_label_formatter(&|v: &f64| fmt_num(*v))
            .draw()
            .map_err(e)?;
        for (gi, ((name, _), counts)) in self.groups.iter().zip(&self.counts).enumerate() {
            let c = colour(gi);
            let rect = |b: usize, n: usize| {
                let x = self.lo + self.width * b as f64;
                [(x, 0.0), (x + self.width, n as f64)]
            };
            chart
                .draw_series(
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(_, &n)| n > 0)
                        .map(|(b, &n)| Rectangle::new(rect(b, n), c.mix(0.35).filled())),
                )
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.mix(0.6).filled())
                });
            chart
                .draw_series(
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(_, &n)| n > 0)
                        .map(|(b, &n)| Rectangle::new(rect(b, n), c.stroke_width(1))),
                )
                .map_err(e)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// A category of a [`bars`] chart: its name and `(series, value, error)` bars.
pub type BarGroup = (String, Vec<(String, f64, Option<f64>)>);

/// Grouped bar chart: one group per category (e.g. level), one coloured bar per series (e.g. backbone),
/// with an error whisker where given. Series colours follow their first appearance.
pub fn bars(
    out_stem: &Path,
    title: &str,
    y_label: &str,
    groups: &[BarGroup],
) -> Result<Vec<PathBuf>> {
    let mut names: Vec<&str> = Vec::new();
    for (cat, bars) in groups {
        for (s, v, err) in bars {
            if !v.is_finite() || err.is_some_and(|d| !d.is_finite()) {
                return Err(bad(
                    out_stem,
                    format!("bar {s:?} of {cat:?} has a non-finite value or error"),
                ));
            }
            if !names.contains(&s.as_str()) {
                names.push(s);
            }
        }
    }
    if names.is_empty() {
        return Err(bad(
            out_stem,
            "no bars to draw: every category is empty".into(),
        ));
    }
    render(
        out_stem,
        &BarFigure {
            title,
            y_label,
            groups,
            names,
        },
    )
}

struct BarFigure<'a> {
    title: &'a str,
    y_label: &'a str,
    groups: &'a [BarGroup],
    /// Distinct series names in order of first appearance.
    names: Vec<&'a str>,
}

impl Figure for BarFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(e)?;
        let tops = self
            .groups
            .iter()
            .flat_map(|g| g.1.iter().map(|b| b.1 + b.2.unwrap_or(0.0)));
        let bottoms = self
            .groups
            .iter()
            .flat_map(|g| g.1.iter().map(|b| b.1 - b.2.unwrap_or(0.0)));
        let hi = tops.fold(0.0f64, f64::max);
        let lo = bottoms.fold(0.0f64, f64::min);
        let (y0, y1) = if hi > lo {
            (lo, hi + (hi - lo) * 0.15)
        } else {
            (0.0, 1.0)
        };
        let n_cat = self.groups.len();
        let keys: Option<Vec<f64>> = Some((0..n_cat).map(|i| i as f64 + 0.5).collect());
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(Ticks::new(0.0..n_cat as f64, keys), y0..y1)
            .map_err(e)?;
        let cat_name = |v: &f64| {
            let i = v.floor() as usize;
            self.groups.get(i).map_or_else(String::new, |g| g.0.clone())
        };
        chart
            .configure_mesh()
            .y_desc(self.y_label)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .disable_x_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&cat_name)
            .y_label_formatter(&|v: &f64| fmt_num(*v))
            .draw()
            .map_err(e)?;
        let slot = 0.8 / self.names.len() as f64;
        for (si, &name) in self.names.iter().enumerate() {
            let c = colour(si);
            let bars: Vec<(f64, f64, Option<f64>)> = self
                .groups
                .iter()
                .enumerate()
                .flat_map(|(gi, g)| {
                    g.1.iter()
                        .filter(|b| b.0 == name)
                        .map(move |b| (gi as f64 + 0.1 + slot * (si as f64 + 0.5), b.1, b.2))
                })
                .collect();
            chart
                .draw_series(bars.iter().map(|&(x, v, _)| {
                    Rectangle::new([(x - slot * 0.45, 0.0), (x + slot * 0.45, v)], c.filled())
                }))
                .map_err(e)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
            chart
                .draw_series(bars.iter().filter_map(|&(x, v, err)| {
                    err.map(|d| {
                        ErrorBar::new_vertical(x, v - d, v, v + d, BLACK.stroke_width(1), 8)
                    })
                }))
                .map_err(e)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_registers() {
        assert!(plotters::style::register_font("test-font", FontStyle::Normal, FONT_BYTES).is_ok());
    }

    #[test]
    fn tick_labels() {
        assert_eq!(fmt_num(128.0), "128");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(1.0f64.exp2()), "2");
    }

    #[test]
    fn stem_keeps_dots() {
        assert_eq!(
            with_ext(Path::new("a/fig.v1"), "png"),
            PathBuf::from("a/fig.v1.png")
        );
    }
}
