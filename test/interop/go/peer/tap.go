package main

// peer tap [-n count] [-wait ms] <natsurl> <service>
//     A listen-only tap (PROTOCOL.md §11): subscribes <prefix>.<service>.$TAP.* without a queue
//     group — never a request subject — and prints "READY <subject>" once subscribed, then one JSON
//     line per access record, each checked against §11.2 (a line that is not a record prints
//     "MALFORMED <reason>"). Exits 0 after -n records (default 1), 5 when -wait ms (default 10000)
//     pass first.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
)

// accessRecord is one record of §11.2, with its members in the order the document lists them.
type accessRecord struct {
	V         int     `json:"v"`
	Time      float64 `json:"time"`
	Service   string  `json:"service"`
	Instance  string  `json:"instance"`
	Method    string  `json:"method"`
	Path      string  `json:"path"`
	Status    int     `json:"status"`
	Ms        float64 `json:"ms"`
	RequestID string  `json:"requestId"`
}

// parseRecord reads one line as §11.2 says: a JSON object, v = 1, every member of its type.
func parseRecord(line []byte) (*accessRecord, string) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(line, &doc); err != nil {
		return nil, "not a JSON object"
	}
	kinds := map[string]byte{
		"v": 'n', "time": 'n', "service": 's', "instance": 's', "method": 's', "path": 's',
		"status": 'n', "ms": 'n', "requestId": 's',
	}
	for name, kind := range kinds {
		raw, ok := doc[name]
		if !ok {
			return nil, "missing " + name
		}
		raw = bytes.TrimSpace(raw)
		if kind == 's' && (len(raw) == 0 || raw[0] != '"') {
			return nil, name + " is not a string"
		}
		var n float64
		if kind == 'n' && json.Unmarshal(raw, &n) != nil {
			return nil, name + " is not a number"
		}
	}
	var r accessRecord
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, err.Error()
	}
	if r.V != 1 {
		return nil, fmt.Sprintf("version %d", r.V)
	}
	if r.Status < 100 || r.Status > 599 || r.Ms < 0 || math.IsNaN(r.Ms) {
		return nil, "status or ms out of range"
	}
	return &r, ""
}

func cmdTap(args []string) {
	fs := flag.NewFlagSet("tap", flag.ExitOnError)
	count := fs.Int("n", 1, "records to print before exiting")
	wait := fs.Int("wait", 10000, "ms to wait for them")
	_ = fs.Parse(args)
	if fs.NArg() != 2 {
		die(2, "usage: peer tap [-n count] [-wait ms] <natsurl> <service>")
	}
	service := fs.Arg(1)
	checkService(service)
	nc := connect(fs.Arg(0))
	defer nc.Close()
	subject := meshPrefix() + "." + service + ".$TAP.*"
	msgs := make(chan []byte, 1024)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { msgs <- m.Data })
	if err != nil {
		die(1, "subscribe %s: %v", subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		die(1, "flush: %v", err)
	}
	fmt.Println("READY " + subject)
	deadline := time.After(time.Duration(*wait) * time.Millisecond)
	printed := 0
	for printed < *count {
		select {
		case data := <-msgs:
			// §11.2: newline-delimited JSON, one or more records per message.
			scanner := bufio.NewScanner(bytes.NewReader(data))
			scanner.Buffer(make([]byte, 64*1024), len(data)+1)
			for scanner.Scan() {
				line := scanner.Bytes()
				if len(line) == 0 {
					continue
				}
				r, why := parseRecord(line)
				if r == nil {
					fmt.Println("MALFORMED " + why)
					continue
				}
				out, _ := json.Marshal(r)
				fmt.Println(string(out))
				printed++
			}
		case <-deadline:
			die(5, "%d of %d records within %d ms", printed, *count, *wait)
		}
	}
}
