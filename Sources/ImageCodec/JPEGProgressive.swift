import Foundation

// MARK: - Progressive Huffman scans (T.81 G.1.2; libjpeg's jdphuff.c)

extension JPEGStreamDecoder {
    /// One progressive scan: DC first / DC refine (possibly interleaved), AC first / AC refine
    /// (one component), with end-of-band runs and restart intervals.
    mutating func decodeProgressiveScan(_ scan: JPEGScan, frame: JPEGFrame, reader: inout JPEGBitReader) throws {
        let isDC = scan.spectralStart == 0
        let refining = scan.successiveHigh != 0
        for component in scan.components {
            if isDC && !refining && component.dcTable == nil || !isDC && component.acTable == nil {
                throw ImageCodecError.corrupt(offset: reader.position, reason: "scan uses an undefined Huffman table")
            }
            component.dcPredictor = 0
        }
        var endOfBandRun = 0
        var mcusLeftInInterval = scan.restartInterval
        let badCode = { (reader: JPEGBitReader) in ImageCodecError.corrupt(offset: reader.position, reason: "invalid Huffman code") }

        try jpegNaturalOrder.withUnsafeBufferPointer { naturalBuffer in
            let order = naturalBuffer.baseAddress!
            func startMCU(_ reader: inout JPEGBitReader) throws {
                if scan.restartInterval > 0 {
                    if mcusLeftInInterval == 0 {
                        try restart(&reader)
                        mcusLeftInInterval = scan.restartInterval
                        endOfBandRun = 0
                    }
                    mcusLeftInInterval -= 1
                }
            }
            if isDC {
                let interleaved = scan.components.count > 1
                let rows = interleaved ? frame.mcusPerColumn : scan.components[0].heightInBlocks
                let columns = interleaved ? frame.mcusPerLine : scan.components[0].widthInBlocks
                for mcuRow in 0..<rows {
                    for mcuColumn in 0..<columns {
                        try startMCU(&reader)
                        for component in scan.components {
                            let h = interleaved ? component.horizontalSampling : 1
                            let v = interleaved ? component.verticalSampling : 1
                            for by in 0..<v {
                                for bx in 0..<h {
                                    let block = component.block(row: mcuRow * v + by, column: mcuColumn * h + bx)
                                    if refining {
                                        if reader.bit() != 0 { block[0] |= Int16(truncatingIfNeeded: 1 << scan.successiveLow) }
                                    } else {
                                        reader.refill()
                                        let t = reader.decode(component.dcTable.unsafelyUnwrapped)
                                        if t < 0 { throw badCode(reader) }
                                        if t > 0 { component.dcPredictor &+= Int32(truncatingIfNeeded: reader.receiveExtend(t)) }
                                        block[0] = Int16(truncatingIfNeeded: component.dcPredictor << Int32(scan.successiveLow))
                                    }
                                }
                            }
                        }
                    }
                    try checkNotTruncated(reader)
                }
                return
            }

            let component = scan.components[0]
            let ac = component.acTable.unsafelyUnwrapped
            let start = scan.spectralStart, end = scan.spectralEnd, low = scan.successiveLow
            let plusOne = Int16(truncatingIfNeeded: 1 << low), minusOne = Int16(truncatingIfNeeded: -1 << low)
            for row in 0..<component.heightInBlocks {
                for column in 0..<component.widthInBlocks {
                    try startMCU(&reader)
                    let block = component.block(row: row, column: column)
                    if !refining {
                        // decode_mcu_AC_first
                        if endOfBandRun > 0 { endOfBandRun -= 1; continue }
                        var k = start
                        while k <= end {
                            reader.refill()
                            let rs = reader.decode(ac)
                            if rs < 0 { throw badCode(reader) }
                            let run = rs >> 4, size = rs & 15
                            if size != 0 {
                                k += run
                                let value = reader.receiveExtend(size)
                                block[order[k]] = Int16(truncatingIfNeeded: value << low)
                            } else if run == 15 {
                                k += 15
                            } else {
                                endOfBandRun = 1 << run
                                if run > 0 { endOfBandRun += reader.bits(run) }
                                endOfBandRun -= 1
                                break
                            }
                            k += 1
                        }
                        continue
                    }
                    // decode_mcu_AC_refine
                    var k = start
                    if endOfBandRun == 0 {
                        while k <= end {
                            reader.refill()
                            let rs = reader.decode(ac)
                            if rs < 0 { throw badCode(reader) }
                            var run = rs >> 4
                            let size = rs & 15
                            var newValue: Int16 = 0
                            if size != 0 {
                                newValue = reader.bits(1) != 0 ? plusOne : minusOne
                            } else if run != 15 {
                                endOfBandRun = 1 << run
                                if run > 0 { endOfBandRun += reader.bits(run) }
                                break                                   // the band's rest below
                            }
                            // Skip `run` zero coefficients, refining the nonzero ones passed.
                            repeat {
                                let coefficient = block + order[k]
                                if coefficient.pointee != 0 {
                                    if reader.bit() != 0 && coefficient.pointee & plusOne == 0 {
                                        coefficient.pointee &+= coefficient.pointee >= 0 ? plusOne : minusOne
                                    }
                                } else {
                                    run -= 1
                                    if run < 0 { break }
                                }
                                k += 1
                            } while k <= end
                            if newValue != 0 { block[order[k]] = newValue }
                            k += 1
                        }
                    }
                    if endOfBandRun > 0 {
                        // The band is in an EOB run: only refinement bits of nonzero coefficients.
                        while k <= end {
                            let coefficient = block + order[k]
                            if coefficient.pointee != 0 {
                                if reader.bit() != 0 && coefficient.pointee & plusOne == 0 {
                                    coefficient.pointee &+= coefficient.pointee >= 0 ? plusOne : minusOne
                                }
                            }
                            k += 1
                        }
                        endOfBandRun -= 1
                    }
                }
                try checkNotTruncated(reader)
            }
        }
    }
}
