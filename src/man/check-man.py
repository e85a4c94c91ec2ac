#!/usr/bin/python3
"""
Checks that the man pages say what the code does:

  1. lumiplugd.ini.5 documents every key of the tables in src/config/configuration.c (every
     section, every [device 0x...] key) and no key that the code does not know; each integer
     key's range and each default set in config_new() appear in its entry.
  2. lumiplugd.8 documents every option src/main.c accepts (and, given the built binary, every
     option its --help lists), and no option the code does not accept.
  3. lumiplugctl.1 documents every option and command src/ctl/lumiplugctl.c accepts (and, given
     the built binary, everything its --help lists), every exit status of its EXIT_* codes, and
     the protocol of src/control/control-request.[ch]: every command and every error code.
  4. man --warnings (as lintian runs it) and groff -ww print no warning for any page.

usage: check-man.py SOURCE_ROOT [LUMIPLUGD_BINARY] [--lumiplugctl LUMIPLUGCTL_BINARY]
"""
import os
import re
import shutil
import subprocess
import sys

failures = []


def help_text(binary, longs, table, add=True):
    """binary --help: fails on a long option it lists that the option table (longs) lacks; with add,
    those options count as known afterwards. Returns the text."""
    out = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=60)
    if out.returncode != 0:
        fail("%s --help exited %d" % (binary, out.returncode))
    listed = set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", out.stdout))
    for o in sorted(listed - longs):
        fail("%s --help lists --%s, which %s lacks" % (os.path.basename(binary), o, table))
    if add:
        longs |= listed
    return out.stdout


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_troff(text):
    """Plain text of troff source: escapes and font changes dropped, \\- made -."""
    text = text.replace("\\-", "-").replace("\\(aq", "'").replace("\\&", "").replace("\\%", "")
    text = re.sub(r"\\f[BIRP]", "", text)
    text = re.sub(r"\\\(..", "", text)
    lines = []
    for line in text.splitlines():
        if line.startswith("."):
            macro, _, rest = line.partition(" ")
            if macro in (".B", ".I", ".BI", ".IB", ".BR", ".RB", ".IR", ".RI"):
                # alternating-font macros: arguments are joined without spaces
                line = "".join(a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest))
            else:
                continue
        lines.append(line)
    return " ".join(lines)


# ---------------------------------------------------------------- configuration.c

def c_table(source, name):
    m = re.search(r"static const ConfigKey " + name + r"\[\] = \{(.*?)\n\};", source, re.S)
    if not m:
        fail("configuration.c: table %s not found" % name)
        return ""
    return m.group(1)


def config_keys(source):
    """[(section, key, member, row text)] from the G(...) and D(...) rows of the key tables."""
    keys = []
    for table, pattern in (("global_keys", r'\bG\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*\w+\s*,\s*([\w.]+)'),
                           ("device_keys", r'\bD\(\s*()"([^"]+)"\s*,\s*\w+\s*,\s*([\w.]+)')):
        body = c_table(source, table)
        starts = [m for m in re.finditer(pattern, body)]
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(body)
            keys.append((m.group(1) or "device", m.group(2), m.group(3), body[m.start():end]))
    # A row the patterns above missed would make this check blind: count the rows another way.
    n_rows = len(re.findall(r"^\s*[GD]\(", c_table(source, "global_keys") + "\n" +
                            c_table(source, "device_keys"), re.M))
    if n_rows != len(keys) or not keys:
        fail("configuration.c: parsed %d key rows but the tables have %d rows" % (len(keys), n_rows))
    return keys


def config_sections(source):
    m = re.search(r"section_names\[\] = \{([^}]*)\}", source)
    if not m:
        fail("configuration.c: section_names not found")
        return []
    return re.findall(r'"([^"]+)"', m.group(1))


def config_defaults(source):
    """member -> default text, from the assignments in config_new()."""
    m = re.search(r"\nint config_new\(Config \*\*ret\) \{(.*?)\n\}", source, re.S)
    if not m:
        fail("configuration.c: config_new() not found")
        return {}
    body = m.group(1)
    defaults = {}
    for member, value in re.findall(r"c->([\w.]+) = ([\w\"/.]+);", body):
        if value in ("true", "false") or re.fullmatch(r"\d+", value):
            defaults[member] = value
        elif re.fullmatch(r"LOG_(TARGET_)?[A-Z]+", value):
            defaults[member] = re.sub(r"^LOG_(TARGET_)?", "", value).lower()
    for member, value in re.findall(r"c->([\w.]+) = strdup\(\"([^\"]*)\"\)", body):
        defaults[member] = value
    return defaults


# ---------------------------------------------------------------- lumiplugd.ini.5

def documented_keys(page):
    """{(section, key): entry text} from the .TP entries under the .SH "[section] ..." headings."""
    keys = {}
    section = None
    lines = page.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r'\.SH\s+"?\[(\w+)', line)
        if m:
            section = m.group(1)
        elif line.startswith(".SH"):
            section = None
        elif line.startswith(".TP") and section and i + 1 < len(lines):
            m = re.match(r'\.BI?\s+"?([A-Za-z_]\w*) = ', lines[i + 1])
            if m:
                body = []
                j = i + 2
                while j < len(lines) and not lines[j].startswith((".TP", ".SH", ".SS", ".PP")):
                    body.append(lines[j])
                    j += 1
                if (section, m.group(1)) in keys:
                    fail("lumiplugd.ini.5: [%s] %s documented twice" % (section, m.group(1)))
                keys[(section, m.group(1))] = strip_troff("\n".join(body))
        i += 1
    return keys


def check_ini_page(root):
    source = read(os.path.join(root, "src/config/configuration.c"))
    page = read(os.path.join(root, "src/man/lumiplugd.ini.5"))
    keys = config_keys(source)
    documented = documented_keys(page)
    defaults = config_defaults(source)

    code = {(s, k) for s, k, _, _ in keys}
    for s, k in sorted(code - documented.keys()):
        fail("lumiplugd.ini.5: [%s] %s is in configuration.c but not documented" % (s, k))
    for s, k in sorted(documented.keys() - code):
        fail("lumiplugd.ini.5: [%s] %s is documented but configuration.c does not accept it" % (s, k))

    for s in config_sections(source) + ["device"]:
        if not re.search(r'^\.SH\s+"?\[' + re.escape(s) + r"\b", page, re.M):
            fail("lumiplugd.ini.5: no .SH heading for section [%s]" % s)

    n_ranges = n_defaults = 0
    for s, k, member, row in keys:
        text = documented.get((s, k))
        if text is None:
            continue
        lo, hi = re.search(r"\.min = (\w+)", row), re.search(r"\.max = (\w+)", row)
        if lo and hi:
            n_ranges += 1
            for bound in (lo.group(1), hi.group(1)):
                if not re.search(r"(?<![\w.])" + re.escape(bound) + r"(?![\w])", text):
                    fail("lumiplugd.ini.5: [%s] %s: the range bound %s of the code is not in its entry"
                         % (s, k, bound))
        if s != "device" and member in defaults:
            n_defaults += 1
            d = re.search(r"Default: (.*)", text)
            if not d or not re.match(re.escape(defaults[member]) + r"(?![\w/])", d.group(1).strip()):
                fail("lumiplugd.ini.5: [%s] %s: default is %s in config_new(), the page says %r"
                     % (s, k, defaults[member], d.group(1) if d else None))
        elif not re.search(r"Default: ", text):
            fail("lumiplugd.ini.5: [%s] %s: no Default: in its entry" % (s, k))
    # The Reload paragraphs say that only [log] takes effect on SIGHUP: no component takes over the
    # new configuration in a reload hook (src/manager.c). When one does, the pages must change.
    for dirpath, _, files in os.walk(os.path.join(root, "src")):
        for f in files:
            path = os.path.join(dirpath, f)
            if f.endswith(".c") and os.path.relpath(path, root) != "src/manager.c" and \
                    "manager_add_reload_hook(" in read(path):
                fail("%s registers a reload hook: say what a reload now applies in the Reload section "
                     "of lumiplugd.ini.5 and under SIGHUP in lumiplugd.8, then update this check"
                     % os.path.relpath(path, root))
    print("lumiplugd.ini.5: %d keys in the code, %d documented; %d ranges and %d defaults compared"
          % (len(code), len(documented), n_ranges, n_defaults))


# ---------------------------------------------------------------- lumiplugd.8

def check_daemon_page(root, binary):
    source = read(os.path.join(root, "src/main.c"))
    page = read(os.path.join(root, "src/man/lumiplugd.8"))

    m = re.search(r"static const struct option options\[\] = \{(.*?)\n\s*\};", source, re.S)
    if not m:
        fail("main.c: the getopt_long option table was not found")
        return
    longs = set(re.findall(r'\{\s*"([\w-]+)"\s*,', m.group(1)))
    m = re.search(r'getopt_long\(\s*argc\s*,\s*argv\s*,\s*"([^"]*)"', source)
    if not m:
        fail("main.c: the getopt_long short option string was not found")
        return
    shorts = set(re.sub(r"[:+-]", "", m.group(1)))
    if binary:
        help_text(binary, longs, "main.c's option table")

    # The OPTIONS section: the tags of its .TP entries.
    sec = re.search(r"^\.SH OPTIONS\n(.*?)^\.SH ", page, re.S | re.M)
    if not sec:
        fail("lumiplugd.8: no OPTIONS section")
        return
    tags = [t for t in re.findall(r"^\.TP\n(.*)$", sec.group(1), re.M)]
    tag_text = " ".join(strip_troff(t) for t in tags)
    doc_longs = set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", tag_text))
    doc_shorts = set(re.findall(r"(?<![\w-])-([a-zA-Z])\b", tag_text))
    for o in sorted(longs - doc_longs):
        fail("lumiplugd.8: option --%s is accepted by lumiplugd but not documented in OPTIONS" % o)
    for o in sorted(doc_longs - longs):
        fail("lumiplugd.8: OPTIONS documents --%s, which lumiplugd does not accept" % o)
    for o in sorted(shorts - doc_shorts):
        fail("lumiplugd.8: option -%s is accepted by lumiplugd but not documented in OPTIONS" % o)
    for o in sorted(doc_shorts - shorts):
        fail("lumiplugd.8: OPTIONS documents -%s, which lumiplugd does not accept" % o)
    text = strip_troff(page)
    for word in ("SIGHUP", "SIGTERM", "SIGINT", "STATE_DIRECTORY", "NOTIFY_SOCKET", "JOURNAL_STREAM",
                 "LUMIPLUGD_DEVICE=", "LUMIPLUGD_NAME=", "LUMIPLUGD_TOPIC=", "LUMIPLUGD_ZNP_CMD=",
                 "LUMIPLUGD_ERROR=", "/etc/lumiplugd/lumiplugd.ini", "/var/lib/lumiplugd/devices.json",
                 "/var/lib/lumiplugd/network.json"):
        if word not in text:
            fail("lumiplugd.8: %s is not mentioned" % word)
    # Every journal field the logger sends is described.
    log_c = os.path.join(root, "src/util/log.c")
    if os.path.exists(log_c):
        for field in sorted(set(re.findall(r'"(LUMIPLUGD_[A-Z_]+)=', read(log_c)))):
            if field + "=" not in text:
                fail("lumiplugd.8: journal field %s (src/util/log.c) is not described" % field)
    print("lumiplugd.8: %d long and %d short options in the code, %d and %d documented"
          % (len(longs), len(shorts), len(doc_longs), len(doc_shorts)))


# ---------------------------------------------------------------- lumiplugctl.1

def tp_tags(page, section):
    """Plain text of the .TP tags of a section."""
    sec = re.search(r"^\.SH " + re.escape(section) + r"\n(.*?)(?=^\.SH |\Z)", page, re.S | re.M)
    if not sec:
        fail("lumiplugctl.1: no %s section" % section)
        return []
    return [strip_troff(t) for t in re.findall(r"^\.TP\n(.*)$", sec.group(1), re.M)]


def check_ctl_page(root, binary):
    source = read(os.path.join(root, "src/ctl/lumiplugctl.c"))
    page = read(os.path.join(root, "src/man/lumiplugctl.1"))
    text = strip_troff(page)

    # options
    m = re.search(r"static const struct option options\[\] = \{(.*?)\n\s*\};", source, re.S)
    longs = set(re.findall(r'\{\s*"([\w-]+)"\s*,', m.group(1))) if m else set()
    m2 = re.search(r'getopt_long\(\s*argc\s*,\s*argv\s*,\s*"([^"]*)"', source)
    shorts = set(re.sub(r"[:+-]", "", m2.group(1))) if m2 else set()
    if not longs or not shorts:
        fail("lumiplugctl.c: the getopt_long option table was not found")
    # commands: the words run() compares the first argument with
    run = re.search(r"\nstatic int run\(.*?\n\}", source, re.S)
    commands = set(re.findall(r'strcmp\(cmd, "([\w-]+)"\) == 0', run.group(0))) if run else set()
    if not commands:
        fail("lumiplugctl.c: no commands found in run()")
    if binary:
        out = help_text(binary, longs, "its option table", add=False)
        cmds = re.search(r"^Commands:\n(.*?)\n\n", out, re.S | re.M)
        listed_cmds = set(re.findall(r"^  ([a-z][\w-]*)", cmds.group(1), re.M)) if cmds else set()
        if listed_cmds != commands:
            fail("lumiplugctl --help lists the commands %s, run() accepts %s"
                 % (sorted(listed_cmds), sorted(commands)))

    tags = " ".join(tp_tags(page, "OPTIONS"))
    doc_longs = set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", tags))
    doc_shorts = set(re.findall(r"(?<![\w-])-([a-zA-Z])\b", tags))
    for o in sorted(longs ^ doc_longs):
        fail("lumiplugctl.1: option --%s is %s" % (o, "not documented in OPTIONS" if o in longs
                                                   else "documented but not accepted"))
    for o in sorted(shorts ^ doc_shorts):
        fail("lumiplugctl.1: option -%s is %s" % (o, "not documented in OPTIONS" if o in shorts
                                                  else "documented but not accepted"))
    doc_cmds = {t.split()[0] for t in tp_tags(page, "COMMANDS") if t.split()}
    for c in sorted(commands ^ doc_cmds):
        fail("lumiplugctl.1: command %s is %s" % (c, "not documented in COMMANDS" if c in commands
                                                  else "documented but not accepted"))

    # exit codes
    codes = {int(v) for v in re.findall(r"\bEXIT_\w+ = (\d+),", source)}
    doc_codes = {int(t) for t in tp_tags(page, "EXIT STATUS") if t.strip().isdigit()}
    if not codes or codes != doc_codes:
        fail("lumiplugctl.1: EXIT STATUS documents %s, lumiplugctl.c has %s" % (sorted(doc_codes), sorted(codes)))

    # protocol: every command name and error code of src/control
    req_c = read(os.path.join(root, "src/control/control-request.c"))
    req_h = read(os.path.join(root, "src/control/control-request.h"))
    names = re.search(r"command_names\[[^]]*\] = \{(.*?)\};", req_c, re.S)
    proto_cmds = set(re.findall(r'= "([\w-]+)"', names.group(1))) if names else set()
    if not proto_cmds:
        fail("control-request.c: command_names not found")
    for c in sorted(proto_cmds):
        if '"command":"%s"' % c not in text:
            fail("lumiplugctl.1: PROTOCOL does not show the command %s" % c)
    errors = set(re.findall(r'#define CONTROL_E_\w+ "([\w-]+)"', req_h))
    doc_errors = {t.split()[0] for t in tp_tags(page, "PROTOCOL") if t.split()}
    for e in sorted(errors ^ doc_errors):
        fail("lumiplugctl.1: error code %s is %s" % (e, "not documented in PROTOCOL" if e in errors
                                                     else "documented but not in control-request.h"))
    limit = re.search(r"#define CONTROL_REQUEST_MAX \((\d+)u \* 1024u\)", req_h)
    if not limit or str(int(limit.group(1)) * 1024) not in text:
        fail("lumiplugctl.1: the request size limit of control-request.h is not stated")
    print("lumiplugctl.1: %d options, %d commands, %d exit codes, %d protocol commands, %d error codes checked"
          % (len(longs), len(commands), len(codes), len(proto_cmds), len(errors)))


# ---------------------------------------------------------------- formatting

def check_warnings(root):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    for name in ("lumiplugd.8", "lumiplugd.ini.5", "lumiplugctl.1"):
        path = os.path.join(root, "src/man", name)
        page = read(path)
        if not re.search(r"^\.SH NAME\n\S+ \\- \S", page, re.M):
            fail("%s: the NAME section is not one line 'name \\- description'" % name)
        for n, line in enumerate(page.splitlines(), 1):
            if not line.strip():
                fail("%s:%d: empty line (use .PP, or \\& inside .EX)" % (name, n))
            if line != line.rstrip():
                fail("%s:%d: trailing blank" % (name, n))
        ran = False
        if shutil.which("man"):
            ran = True
            r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               universal_newlines=True, timeout=120)
            if r.returncode != 0 or r.stderr.strip():
                fail("%s: man --warnings: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        if shutil.which("groff"):
            ran = True
            r = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=env, universal_newlines=True, timeout=120)
            if r.returncode != 0 or r.stderr.strip():
                fail("%s: groff -ww: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        if not ran:
            print("SKIP: neither man nor groff is installed; %s not formatted" % name)


def main():
    args = sys.argv[1:]
    ctl = None
    if "--lumiplugctl" in args:
        i = args.index("--lumiplugctl")
        if i + 1 >= len(args):
            print(__doc__.strip())
            return 2
        ctl = args[i + 1]
        del args[i:i + 2]
    if len(args) not in (1, 2):
        print(__doc__.strip())
        return 2
    root = args[0]
    binary = args[1] if len(args) == 2 else None
    check_ini_page(root)
    check_daemon_page(root, binary)
    check_ctl_page(root, ctl)
    check_warnings(root)
    if failures:
        print("%d problem(s)" % len(failures))
        return 1
    print("man pages match the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
