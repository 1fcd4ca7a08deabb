//! Charts as PNG images for the HTML email: a sparkline per goal and a funnel.
//!
//! The images hold no text on purpose: labels and numbers sit in the HTML next to
//! them, where they are translated, shaped (Arabic), read by screen readers and
//! copyable; the image's `alt` repeats them. So no font is needed and the bytes
//! are identical on every machine. Drawn at 2× for sharp display on retina screens.

use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform};

/// A PNG image and its size in CSS pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Png {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn color(hex: &str) -> Color {
    let h = hex.trim_start_matches('#');
    let p = |i: usize| u8::from_str_radix(h.get(i..i + 2).unwrap_or("80"), 16).unwrap_or(128);
    Color::from_rgba8(p(0), p(2), p(4), 255)
}

fn paint(hex: &str) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(color(hex));
    p.anti_alias = true;
    p
}

/// PNG bytes of a pixmap: straight (not premultiplied) alpha, fast deflate, no filter
/// (these images are mostly empty, so they compress well without effort).
fn encode(pixmap: &Pixmap) -> Vec<u8> {
    let mut rgba = pixmap.data().to_vec();
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3] as u32;
        if a > 0 && a < 255 {
            for c in &mut px[..3] {
                *c = ((*c as u32 * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::Filter::NoFilter);
    let mut writer = enc.write_header().expect("a PNG header for a valid size");
    writer.write_image_data(&rgba).expect("PNG data for a matching buffer");
    writer.finish().expect("a finished PNG");
    out
}

/// A line through `values` (gaps where there is none), with the target as a dashed line.
pub fn sparkline(values: &[Option<f64>], target: Option<f64>, line_hex: &str) -> Png {
    const W: u32 = 120;
    const H: u32 = 32;
    const SCALE: f32 = 2.0;
    let mut pixmap = Pixmap::new(W * 2, H * 2).expect("a non-empty image");
    let known: Vec<f64> = values.iter().flatten().copied().chain(target).collect();
    if !known.is_empty() && values.len() > 1 {
        let (lo, hi) = known
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let pad = 3.0;
        let x = |i: usize| pad + (i as f32) * ((W as f32 - 2.0 * pad) / (values.len() - 1) as f32);
        let y = |v: f64| pad + (H as f32 - 2.0 * pad) * (1.0 - ((v - lo) / span) as f32);
        let t = Transform::from_scale(SCALE, SCALE);
        if let Some(tv) = target {
            let mut pb = PathBuilder::new();
            pb.move_to(pad, y(tv));
            pb.line_to(W as f32 - pad, y(tv));
            if let Some(path) = pb.finish() {
                let stroke = Stroke {
                    width: 1.0,
                    dash: StrokeDash::new(vec![3.0, 3.0], 0.0),
                    ..Stroke::default()
                };
                pixmap.stroke_path(&path, &paint("#8c959f"), &stroke, t, None);
            }
        }
        let mut pb = PathBuilder::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) if pen_down => pb.line_to(x(i), y(*v)),
                Some(v) => {
                    pb.move_to(x(i), y(*v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if let Some(path) = pb.finish() {
            let stroke = Stroke {
                width: 1.75,
                ..Stroke::default()
            };
            pixmap.stroke_path(&path, &paint(line_hex), &stroke, t, None);
        }
        if let Some((i, Some(v))) = values.iter().enumerate().next_back() {
            let mut pb = PathBuilder::new();
            pb.push_circle(x(i), y(*v), 2.5);
            if let Some(dot) = pb.finish() {
                pixmap.fill_path(&dot, &paint(line_hex), FillRule::Winding, t, None);
            }
        }
    }
    Png {
        bytes: encode(&pixmap),
        width: W,
        height: H,
    }
}

/// Horizontal bars, one per stage, on a log scale so that 70,000 visits and 30
/// customers both stay visible (the exact numbers are in the HTML beside it).
pub fn funnel(values: &[Option<f64>], bar_hex: &str, rtl: bool) -> Png {
    const W: u32 = 240;
    const ROW: u32 = 22;
    let h = ROW * values.len().max(1) as u32;
    let mut pixmap = Pixmap::new(W * 2, h * 2).expect("a non-empty image");
    let max = values.iter().flatten().fold(0.0f64, |a, &v| a.max(v));
    let t = Transform::from_scale(2.0, 2.0);
    for (i, v) in values.iter().enumerate() {
        let frac = match v {
            Some(v) if max > 0.0 && *v > 0.0 => ((v + 1.0).ln() / (max + 1.0).ln()).clamp(0.02, 1.0) as f32,
            _ => 0.0,
        };
        let w = (W as f32 - 4.0) * frac;
        if w <= 0.0 {
            continue;
        }
        let left = if rtl { W as f32 - 2.0 - w } else { 2.0 };
        if let Some(rect) = Rect::from_xywh(left, (i as u32 * ROW) as f32 + 3.0, w, ROW as f32 - 6.0) {
            pixmap.fill_rect(rect, &paint(bar_hex), t, None);
        }
    }
    Png {
        bytes: encode(&pixmap),
        width: W,
        height: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_valid_pngs_and_the_same_bytes_every_time() {
        let a = sparkline(&[Some(1.0), None, Some(3.0), Some(2.0)], Some(2.5), "#1a7f37");
        assert_eq!(&a.bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            a,
            sparkline(&[Some(1.0), None, Some(3.0), Some(2.0)], Some(2.5), "#1a7f37")
        );
        let f = funnel(&[Some(70_000.0), Some(400.0), Some(30.0)], "#0969da", false);
        assert_eq!((f.width, f.height), (240, 66));
        assert_ne!(
            f.bytes,
            funnel(&[Some(70_000.0), Some(400.0), Some(30.0)], "#0969da", true).bytes
        );
    }

    #[test]
    fn a_sparkline_without_data_is_still_an_image() {
        let p = sparkline(&[None, None], None, "#000000");
        assert_eq!(&p.bytes[1..4], b"PNG");
    }
}
