# Loop's permission hook: the shared part (runner/permission-hook.ts writes the rest).
# POSIX sh with built-ins only (printf and echo included): images may have nothing else.
# Claude Code runs the hook before every tool call with the call as one line of JSON on
# stdin; the hook answers allow, deny or defer on stdout.

nl='
'
cr=$(printf '\r')
input=
while IFS= read -r line || [ -n "$line" ]; do input="$input$line"; done

# str KEY [TEXT]: the first JSON string value of "KEY" in TEXT (default: the whole input),
# unescaped, in $val. \uXXXX stays as written, so such a value never matches an allow rule.
# Inside a JSON string every quote is escaped, so "KEY":" only ever matches a real key.
str() {
  src=${2-$input}
  rest=${src#*\"$1\":\"}
  val=
  [ "$rest" = "$src" ] && return 1
  while :; do
    chunk=${rest%%[\\\"]*}
    val=$val$chunk
    rest=${rest#"$chunk"}
    case $rest in
      \"*) return 0 ;;
      \\*)
        rest=${rest#?}
        c=${rest%"${rest#?}"}
        rest=${rest#?}
        case $c in
          n) val=$val$nl ;;
          r) val=$val$cr ;;
          t) val="$val	" ;;
          u) val="$val\\u" ;;
          *) val=$val$c ;;
        esac ;;
      *) return 1 ;;
    esac
  done
}

# The path a file tool works on, in $p (Glob and Grep default to the working directory).
target_path() {
  str file_path "$ti" || str notebook_path "$ti" || str path "$ti" || val=$workdir
  p=$val
}

# An absolute path with no "." or ".." segments and no "//": one that means what it says.
clean_path() {
  case $1 in /*) ;; *) return 1 ;; esac
  case $1 in *//*|*/./*|*/../*|*/.|*/..) return 1 ;; esac
}

# How many "/" a path has (sh's * crosses "/", a rule's single * does not).
slashes() {
  n=0 r=$1
  while :; do
    case $r in */*) r=${r#*/}; n=$((n + 1)) ;; *) break ;; esac
  done
  echo "$n"
}

# The host of a WebFetch url, in $h (userinfo tricks such as user@host never match).
url_host() {
  str url "$ti" || return 1
  case $val in http://*|https://*) ;; *) return 1 ;; esac
  h=${val#*://}
  h=${h%%[/?#]*}
  case $h in *@*|'') return 1 ;; esac
  h=${h%%:*}
}

answer() { printf '%s\n' "$1"; exit 0; }

tool=
str tool_name && tool=$val
# The top-level tool_use_id is the input's last key: take the last occurrence, so a tool
# input holding a "tool_use_id" of its own cannot pose as another call.
id=${input##*\"tool_use_id\":\"}
id=${id%%\"*}
ti=${input#*\"tool_input\":}
