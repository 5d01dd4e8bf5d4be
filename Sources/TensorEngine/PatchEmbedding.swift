// MARK: - Patch embedding (timm `PatchEmbed`: Conv2d with kernel = stride = patch, flattened)

/// im2col: image [B, Cin, H, W] (NCHW) → columns [B·Np, Cin·P·P], Np = (H/P)·(W/P), patches in
/// row-major grid order, each patch's values in the order of a flattened conv weight
/// [Cout, Cin, P, P] (channel, then row, then column). H and W must be multiples of P.
func patchColumnsForward(_ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>,
                                batch b: Int, channels cIn: Int, height: Int, width: Int, patch p: Int) {
    let gridH = height / p, gridW = width / p, rowLength = cIn * p * p
    for bi in 0..<b {
        for py in 0..<gridH {
            for px in 0..<gridW {
                let out = columns + ((bi * gridH + py) * gridW + px) * rowLength
                for ci in 0..<cIn {
                    for ky in 0..<p {
                        let source = image + ((bi * cIn + ci) * height + py * p + ky) * width + px * p
                        (out + (ci * p + ky) * p).update(from: source, count: p)
                    }
                }
            }
        }
    }
}

/// col2im, the adjoint of `patchColumnsForward`: dImage += the columns' gradient scattered
/// back to pixels (patches do not overlap, so each pixel receives one value).
func patchColumnsBackward(_ dColumns: UnsafePointer<Float>, _ dImage: UnsafeMutablePointer<Float>,
                                 batch b: Int, channels cIn: Int, height: Int, width: Int, patch p: Int) {
    let gridH = height / p, gridW = width / p, rowLength = cIn * p * p
    for bi in 0..<b {
        for py in 0..<gridH {
            for px in 0..<gridW {
                let source = dColumns + ((bi * gridH + py) * gridW + px) * rowLength
                for ci in 0..<cIn {
                    for ky in 0..<p {
                        let out = dImage + ((bi * cIn + ci) * height + py * p + ky) * width + px * p
                        let row = source + (ci * p + ky) * p
                        for kx in 0..<p { out[kx] += row[kx] }
                    }
                }
            }
        }
    }
}

// MARK: - CLS token concat + position embedding add (timm `_pos_embed`)

/// out[b, 0] = cls + pos[0];  out[b, 1 + i] = patches[b, i] + pos[1 + i].
/// patches: [B, Np, C], cls: [C], pos: [Np + 1, C], out: [B, Np + 1, C]. Saves nothing.
func classTokenForward(_ patches: UnsafePointer<Float>, cls: UnsafePointer<Float>, position: UnsafePointer<Float>,
                              _ out: UnsafeMutablePointer<Float>, batch b: Int, patchCount np: Int, channels c: Int) {
    let n = np + 1
    for bi in 0..<b {
        let tokens = out + bi * n * c
        for j in 0..<c { tokens[j] = cls[j] + position[j] }
        let source = patches + bi * np * c
        for i in 0..<np * c { tokens[c + i] = source[i] + position[c + i] }
    }
}

/// dPatches += dOut[:, 1:],  dCls += Σ_b dOut[b, 0],  dPos += Σ_b dOut[b].  Accumulates.
func classTokenBackward(_ dOut: UnsafePointer<Float>, dPatches: UnsafeMutablePointer<Float>?,
                               dCls: UnsafeMutablePointer<Float>, dPosition: UnsafeMutablePointer<Float>,
                               batch b: Int, patchCount np: Int, channels c: Int) {
    let n = np + 1
    for bi in 0..<b {
        let tokens = dOut + bi * n * c
        for j in 0..<c { dCls[j] += tokens[j] }
        accumulate(tokens, into: dPosition, count: n * c)
        if let dPatches { accumulate(tokens + c, into: dPatches + bi * np * c, count: np * c) }
    }
}

// MARK: - Token slice (the CLS token: timm `x[:, 0]`)

/// y[b] = x[b, token].  x: [B, N, C], y: [B, C].
package func tokenSliceForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, token: Int,
                              batch b: Int, tokens n: Int, channels c: Int) {
    for bi in 0..<b { (y + bi * c).update(from: x + (bi * n + token) * c, count: c) }
}

/// dx[b, token] += dy[b].  Accumulates; other tokens untouched.
package func tokenSliceBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, token: Int,
                               batch b: Int, tokens n: Int, channels c: Int) {
    for bi in 0..<b { accumulate(dy + bi * c, into: dx + (bi * n + token) * c, count: c) }
}

// MARK: - Concat along the last dimension

/// y[r] = a[r] ‖ b[r].  a: [R, Ca], b: [R, Cb], y: [R, Ca + Cb].
func concatForward(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          rows: Int, columnsA ca: Int, columnsB cb: Int) {
    for r in 0..<rows {
        (y + r * (ca + cb)).update(from: a + r * ca, count: ca)
        (y + r * (ca + cb) + ca).update(from: b + r * cb, count: cb)
    }
}

/// da += dy[:, :Ca],  db += dy[:, Ca:].  Accumulates (either may be nil).
func concatBackward(_ dy: UnsafePointer<Float>, _ da: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?,
                           rows: Int, columnsA ca: Int, columnsB cb: Int) {
    for r in 0..<rows {
        if let da { accumulate(dy + r * (ca + cb), into: da + r * ca, count: ca) }
        if let db { accumulate(dy + r * (ca + cb) + ca, into: db + r * cb, count: cb) }
    }
}

// MARK: - Mean over a group (TenCrop: the crops of one image)

/// y[b] = (1/G) Σ_g x[b, g].  x: [B, G, C], y: [B, C].
func groupMeanForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             batch b: Int, groupSize g: Int, channels c: Int) {
    let scale = 1 / Float(g)
    for bi in 0..<b {
        let out = y + bi * c
        out.update(repeating: 0, count: c)
        for gi in 0..<g { accumulate(x + (bi * g + gi) * c, into: out, count: c) }
        for j in 0..<c { out[j] *= scale }
    }
}

/// dx[b, g] += dy[b]/G.  Accumulates.
func groupMeanBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              batch b: Int, groupSize g: Int, channels c: Int) {
    let scale = 1 / Float(g)
    for bi in 0..<b {
        for gi in 0..<g {
            let out = dx + (bi * g + gi) * c, source = dy + bi * c
            for j in 0..<c { out[j] += source[j] * scale }
        }
    }
}
