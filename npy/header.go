package npy

import (
	"math"
	"strconv"
	"strings"
)

// The header of a .npy file is a Python dict literal, for example
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// parseLiteral reads the subset of Python literals that headers use:
// strings, integers (with Python 2's L suffix), True, False, None, tuples,
// lists and dicts. It never panics: nesting is bounded and every error is
// an *Error of kind ErrFormat.

type pyTuple []any
type pyList []any
type pyDict map[string]any
type pyInt struct {
	v        int64
	overflow bool // the literal does not fit an int64
}
type pyNone struct{}

const maxNesting = 32

type parser struct {
	s   []byte
	pos int
}

func parseHeader(h []byte) (pyDict, error) {
	p := &parser{s: h}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errf("unexpected %q after the header dict", p.rest())
	}
	d, ok := v.(pyDict)
	if !ok {
		return nil, formatErr("", "header is not a dict: %s", repr(v))
	}
	return d, nil
}

func (p *parser) rest() string {
	r := p.s[p.pos:]
	if len(r) > 20 {
		r = r[:20]
	}
	return string(r)
}

func (p *parser) errf(format string, args ...any) error {
	e := formatErr("", format, args...)
	e.Detail = "cannot parse header at byte " + strconv.Itoa(p.pos) + ": " + e.Detail
	return e
}

func (p *parser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

// expect consumes c after optional space.
func (p *parser) expect(c byte) bool {
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxNesting {
		return nil, p.errf("nesting deeper than %d", maxNesting)
	}
	p.space()
	if p.pos >= len(p.s) {
		return nil, p.errf("unexpected end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		p.pos++
		return p.dict(depth)
	case c == '(':
		p.pos++
		return p.sequence(depth, ')', true)
	case c == '[':
		p.pos++
		return p.sequence(depth, ']', false)
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.integer()
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_':
		start := p.pos
		for p.pos < len(p.s) && (isAlnum(p.s[p.pos]) || p.s[p.pos] == '_') {
			p.pos++
		}
		switch w := string(p.s[start:p.pos]); w {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return pyNone{}, nil
		default:
			p.pos = start
			return nil, p.errf("unknown name %q", w)
		}
	}
	return nil, p.errf("unexpected %q", p.rest())
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func (p *parser) dict(depth int) (any, error) {
	d := pyDict{}
	for {
		if p.expect('}') {
			return d, nil
		}
		p.space()
		if p.pos >= len(p.s) || (p.s[p.pos] != '\'' && p.s[p.pos] != '"') {
			return nil, p.errf("dict key is not a string")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if !p.expect(':') {
			return nil, p.errf("missing ':' after dict key %q", k)
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d[k.(string)] = v // a repeated key replaces the earlier value, as in Python
		if p.expect(',') {
			continue
		}
		if p.expect('}') {
			return d, nil
		}
		return nil, p.errf("missing ',' or '}' in dict")
	}
}

// sequence reads a tuple or list after its opening bracket. A parenthesised
// single value without a comma is that value, as in Python.
func (p *parser) sequence(depth int, end byte, tuple bool) (any, error) {
	var items []any
	comma := false
	for {
		if p.expect(end) {
			break
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		if p.expect(',') {
			comma = true
			continue
		}
		if p.expect(end) {
			break
		}
		return nil, p.errf("missing ',' or %q", string(end))
	}
	if !tuple {
		return pyList(items), nil
	}
	if len(items) == 1 && !comma {
		return items[0], nil
	}
	return pyTuple(items), nil
}

func (p *parser) str() (any, error) {
	q := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\n':
			return nil, p.errf("newline in string")
		case c == '\\':
			if p.pos >= len(p.s) {
				return nil, p.errf("unterminated string")
			}
			e := p.s[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\', '\'', '"':
				b.WriteByte(e)
			default:
				// Other escapes never occur in the headers of float
				// arrays; keep them verbatim.
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil, p.errf("unterminated string")
}

func (p *parser) integer() (any, error) {
	start := p.pos
	neg := false
	if c := p.s[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
		p.space()
	}
	ds := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	digits := string(p.s[ds:p.pos])
	if digits == "" {
		p.pos = start
		return nil, p.errf("unexpected %q", p.rest())
	}
	if p.pos < len(p.s) && (p.s[p.pos] == '.' || p.s[p.pos] == 'e' || p.s[p.pos] == 'E' || p.s[p.pos] == 'x' || p.s[p.pos] == 'j') {
		return nil, p.errf("only integers are supported, not %q", string(p.s[start:min(p.pos+1, len(p.s))]))
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++ // Python 2's long suffix
	}
	if p.pos < len(p.s) && (isAlnum(p.s[p.pos]) || p.s[p.pos] == '_') {
		return nil, p.errf("malformed number %q", p.rest())
	}
	if len(digits) > 1 && digits[0] == '0' && strings.Trim(digits, "0") != "" {
		return nil, p.errf("leading zeros in integer %q", digits)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return pyInt{overflow: true}, nil
	}
	if neg {
		v = -v
	}
	return pyInt{v: v}, nil
}

// repr formats a parsed value for error messages, as Python would.
func repr(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + x + "'"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case pyNone:
		return "None"
	case pyInt:
		if x.overflow {
			return "<integer beyond int64>"
		}
		return strconv.FormatInt(x.v, 10)
	case pyTuple:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = repr(e)
		}
		if len(parts) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	case pyList:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = repr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case pyDict:
		return "{...}"
	}
	return "?"
}

// header is what tapegrad needs from a parsed header.
type header struct {
	descr     string // '<f2', '<f4', '<f8', '<i4', '<i8', or the same big-endian ('>…')
	shape     []int
	n         int // elements
	itemBytes int
}

var supportedDescr = map[string]int{"<f2": 2, ">f2": 2, "<f4": 4, "<f8": 8, ">f4": 4, ">f8": 8, "<i4": 4, "<i8": 8, ">i4": 4, ">i8": 8}

// interpret checks a parsed header dict as NumPy does and against what
// tapegrad supports.
func interpret(d pyDict) (header, error) {
	var h header
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := d[k]; !ok {
			return h, &Error{Kind: ErrFormat, Field: k, Detail: "header has no field '" + k + "'"}
		}
	}
	if len(d) != 3 {
		for k := range d {
			if k != "descr" && k != "fortran_order" && k != "shape" {
				return h, &Error{Kind: ErrFormat, Field: k, Detail: "header has an unexpected field " + strconv.Quote(k)}
			}
		}
	}

	shape, ok := d["shape"].(pyTuple)
	if !ok {
		return h, fieldErr(ErrFormat, "shape", "is %s: not a tuple of integers", repr(d["shape"]))
	}
	h.shape = make([]int, len(shape))
	n := 1
	for i, e := range shape {
		x, ok := e.(pyInt)
		if !ok || x.v < 0 || x.overflow || x.v > math.MaxInt {
			return h, fieldErr(ErrFormat, "shape", "is %s: not a tuple of non-negative integers", repr(d["shape"]))
		}
		h.shape[i] = int(x.v)
	}
	for _, s := range h.shape {
		if s == 0 {
			n = 0
			break
		}
	}
	if n != 0 {
		for _, s := range h.shape {
			if n > math.MaxInt/16/s { // leave room to multiply by the item size
				return h, fieldErr(ErrFormat, "shape", "is %s: too many elements", repr(d["shape"]))
			}
			n *= s
		}
	}
	h.n = n

	fo, ok := d["fortran_order"].(bool)
	if !ok {
		return h, fieldErr(ErrFormat, "fortran_order", "is %s: not a bool", repr(d["fortran_order"]))
	}
	if fo {
		return h, fieldErr(ErrUnsupported, "fortran_order", "is True: only C order is supported")
	}

	switch descr := d["descr"].(type) {
	case string:
		size, ok := supportedDescr[descr]
		if !ok {
			return h, fieldErr(ErrUnsupported, "descr", "is '%s': only float16, float32, float64, int32 and int64 ('<f2', '<f4', '<f8', '<i4', '<i8', or big-endian '>…') are supported", descr)
		}
		h.descr, h.itemBytes = descr, size
	case pyList, pyTuple:
		return h, fieldErr(ErrUnsupported, "descr", "is %s: structured and subarray dtypes are not supported", repr(descr))
	default:
		return h, fieldErr(ErrFormat, "descr", "is %s: not a dtype descriptor", repr(descr))
	}
	return h, nil
}

// headerText returns the header dict as numpy.save writes it, with the
// spare room NumPy leaves for growing the first axis.
func headerText(descr string, shape []int) string {
	var b strings.Builder
	b.WriteString("{'descr': '")
	b.WriteString(descr)
	b.WriteString("', 'fortran_order': False, 'shape': (")
	for i, s := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		b.WriteString(",")
	}
	b.WriteString("), }")
	if len(shape) > 0 {
		// NumPy's GROWTH_AXIS_MAX_DIGITS = 21.
		b.WriteString(strings.Repeat(" ", max(0, 21-len(strconv.Itoa(shape[0])))))
	}
	return b.String()
}

const (
	magic      = "\x93NUMPY"
	arrayAlign = 64
)

// wrapHeader returns the magic, version, header length and the header
// padded with spaces and a newline to a multiple of 64 bytes, in format 1.0
// if the header fits its 16-bit length, else 2.0 (NumPy's
// _wrap_header_guess_version; 3.0 is only needed for non-Latin-1 headers,
// which float arrays never have).
func wrapHeader(text string) []byte {
	hlen := len(text) + 1
	major, lenBytes := byte(1), 2
	pad := arrayAlign - (len(magic)+2+lenBytes+hlen)%arrayAlign
	if hlen+pad > math.MaxUint16 {
		major, lenBytes = 2, 4
		pad = arrayAlign - (len(magic)+2+lenBytes+hlen)%arrayAlign
	}
	out := make([]byte, 0, len(magic)+2+lenBytes+hlen+pad)
	out = append(out, magic...)
	out = append(out, major, 0)
	l := hlen + pad
	if lenBytes == 2 {
		out = append(out, byte(l), byte(l>>8))
	} else {
		out = append(out, byte(l), byte(l>>8), byte(l>>16), byte(l>>24))
	}
	out = append(out, text...)
	for i := 0; i < pad; i++ {
		out = append(out, ' ')
	}
	return append(out, '\n')
}
