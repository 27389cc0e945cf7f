package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"
)

// decode decodes a JSON object strictly: the content type, if given,
// must be JSON and given once; unknown fields, trailing data and bodies
// over max bytes are refused. With optional, an empty body leaves v as it
// is.
func decode(c *gin.Context, max int64, optional bool, v any) *Error {
	if len(c.Request.Header.Values("Content-Type")) > 1 {
		return badRequest("more than one Content-Type header")
	}
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return newErr(http.StatusUnsupportedMediaType, "invalid_request", "the request body must be application/json")
		}
	}
	// read keeps what the decoder read, to name an unknown field.
	var read bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(http.MaxBytesReader(c.Writer, c.Request.Body, max), &read))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF) && optional:
			return nil
		case errors.Is(err, io.EOF):
			return badRequest("the request body is empty; a JSON object is required")
		case errors.As(err, &tooBig):
			return badRequest("the request body is larger than %d bytes", max)
		case errors.As(err, &syn):
			return badRequest("the request body is not valid JSON: %v", syn)
		case errors.As(err, &typ):
			if typ.Field != "" {
				return badRequest("field %q must be a %s", typ.Field, jsonKind(typ.Type.Kind().String()))
			}
			return badRequest("the request body must be a JSON object")
		}
		// encoding/json has no error type for an unknown field: the
		// value, which the decoder read whole, is walked for it.
		if name, ok := unknownField(read.Bytes(), reflect.TypeOf(v)); ok {
			return badRequest("unknown field %q", name)
		}
		return badRequest("the request body is not a valid JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("unexpected data after the JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "list"
	case "int", "int64", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	}
	return k
}

// unknownField returns the first key of the JSON value data, in document
// order, that names no field of the struct type t would decode it into,
// at any depth (objects in fields, in lists, behind pointers): the field
// that json.Decoder.DisallowUnknownFields refuses. Keys match field names
// as encoding/json matches them: the json tag's name, or the Go name,
// without regard to case. Embedded structs are not looked into (no
// request type has one). Values of another type than t expects are
// skipped.
func unknownField(data []byte, t reflect.Type) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	name, ok, _ := walkUnknown(dec, t)
	return name, ok
}

// walkUnknown reads one value from dec, expected to be of type t.
func walkUnknown(dec *json.Decoder, t reflect.Type) (string, bool, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array:
	default:
		var skip json.RawMessage
		return "", false, dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	d, isDelim := tok.(json.Delim)
	switch {
	case !isDelim:
		return "", false, nil // a scalar where t wants more: skipped
	case d == '[' && t.Kind() != reflect.Struct:
		for dec.More() {
			if name, ok, err := walkUnknown(dec, t.Elem()); ok || err != nil {
				return name, ok, err
			}
		}
	case d == '{' && t.Kind() == reflect.Struct:
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			key, _ := tok.(string)
			f, ok := jsonField(t, key)
			if !ok {
				return key, true, nil
			}
			if name, ok, err := walkUnknown(dec, f.Type); ok || err != nil {
				return name, ok, err
			}
		}
	default:
		// An object or a list where t wants the other: skip its members.
		for dec.More() {
			if d == '{' {
				if _, err := dec.Token(); err != nil {
					return "", false, err
				}
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", false, err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return "", false, err
}

// jsonField returns the exported field of struct type t that encoding/json
// decodes key into.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
}
