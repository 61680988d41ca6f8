#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Numbers: the reference parser's typing rules, with correctly rounded doubles.

extension JSONParser {
    /// Exact powers of ten that a double holds without rounding (10^0 ... 10^22).
    static let exactPowersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    mutating func parseNumber() throws(VPackError) {
        let literalStart = cursor
        var negative = false
        if cursor.pointee == UInt8(ascii: "-") {
            negative = true
            cursor += 1
        }
        guard cursor < end else { throw error(.unexpectedEnd, "incomplete number") }
        guard isDigit(cursor.pointee) else { throw error(.invalidNumber, "expected a digit") }

        // Integer part, accumulated exactly while it fits in 64 bits.
        var mantissa: UInt64 = 0
        var overflowed = false
        var significantDigits = 0
        if cursor.pointee == UInt8(ascii: "0") {
            cursor += 1
            if cursor < end && isDigit(cursor.pointee) {
                throw error(.invalidNumber, "leading zeros are not allowed")
            }
        } else {
            while cursor < end, isDigit(cursor.pointee) {
                let digit = UInt64(cursor.pointee &- UInt8(ascii: "0"))
                let (times10, overflow1) = mantissa.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(digit)
                if overflow1 || overflow2 { overflowed = true }
                mantissa = sum
                significantDigits += 1
                cursor += 1
            }
        }

        var isInteger = true
        var fractionDigits = 0
        if cursor < end && cursor.pointee == UInt8(ascii: ".") {
            isInteger = false
            cursor += 1
            guard cursor < end else { throw error(.unexpectedEnd, "incomplete number") }
            guard isDigit(cursor.pointee) else { throw error(.invalidNumber, "expected a digit after '.'") }
            while cursor < end, isDigit(cursor.pointee) {
                if !overflowed && significantDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(cursor.pointee &- UInt8(ascii: "0"))
                    if mantissa != 0 { significantDigits += 1 }
                    fractionDigits += 1
                } else if cursor.pointee != UInt8(ascii: "0") {
                    overflowed = true  // more precision than the fast path keeps
                }
                cursor += 1
            }
        }
        var exponent = 0
        if cursor < end && (cursor.pointee | 0x20) == UInt8(ascii: "e") {
            isInteger = false
            cursor += 1
            var exponentNegative = false
            if cursor < end && (cursor.pointee == UInt8(ascii: "+") || cursor.pointee == UInt8(ascii: "-")) {
                exponentNegative = cursor.pointee == UInt8(ascii: "-")
                cursor += 1
            }
            guard cursor < end else { throw error(.unexpectedEnd, "incomplete exponent") }
            guard isDigit(cursor.pointee) else { throw error(.invalidNumber, "expected a digit in exponent") }
            while cursor < end, isDigit(cursor.pointee) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(cursor.pointee &- UInt8(ascii: "0")) }
                cursor += 1
            }
            if exponentNegative { exponent = -exponent }
        }

        if isInteger && !overflowed {
            if !negative {
                builder.appendUInt(mantissa)
                return
            }
            if mantissa <= UInt64(Int64.max) {
                builder.appendInt(-Int64(mantissa))
                return
            }
            if mantissa == UInt64(Int64.max) + 1 {
                builder.appendInt(Int64.min)
                return
            }
        }
        // A double. Fast path (exact): at most 15 significant digits... the mantissa is exact
        // below 2^53, and dividing or multiplying by an exact power of ten rounds once.
        let decimalExponent = exponent - fractionDigits
        if !overflowed && mantissa < (1 << 53) && decimalExponent >= -22 && decimalExponent <= 22 {
            var value = Double(mantissa)
            if decimalExponent < 0 {
                value /= Self.exactPowersOfTen[-decimalExponent]
            } else {
                value *= Self.exactPowersOfTen[decimalExponent]
            }
            builder.appendDouble(negative ? -value : value)
            return
        }
        if mantissa == 0 && !overflowed {
            builder.appendDouble(negative ? -0.0 : 0.0)
            return
        }
        let value = try slowDouble(literalStart)
        builder.appendDouble(value)
    }

    @inline(__always)
    func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// Converts the literal from `literalStart` to the cursor with the C library's correctly
    /// rounded `strtod` (on a NUL-terminated copy, since the input need not be terminated).
    func slowDouble(_ literalStart: UnsafePointer<UInt8>) throws(VPackError) -> Double {
        let length = cursor - literalStart
        let value = withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { text in
            for i in 0..<length { text[i] = CChar(bitPattern: literalStart[i]) }
            text[length] = 0
            return strtod(text.baseAddress!, nil)
        }
        guard value.isFinite else {
            throw VPackError(.numberOutOfRange, at: literalStart - start, "number does not fit a double")
        }
        return value
    }
}
