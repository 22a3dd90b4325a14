#!/usr/bin/env bash
# Serves a workdir's export with export/local_server.py on a free local
# port, sends requests with export/client.py (log_prob, anomaly if the
# export has it, sample), and stops the server.
#   bash export/try_serving.sh WORKDIR [PYTHON]
set -euo pipefail
workdir=${1:?usage: try_serving.sh WORKDIR [PYTHON]}
python=${2:-python3}
here=$(cd "$(dirname "$0")" && pwd)
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')
requests="$workdir/requests"
"$python" -m tf_realnvp.anomaly images --workdir="$workdir" \
    --set=fashion_mnist:test --max_examples=2 --output_dir="$requests" > /dev/null
"$python" -m tf_realnvp.anomaly images --workdir="$workdir" \
    --set=sklearn_digits --max_examples=2 --output_dir="$requests" > /dev/null
images=$(ls "$requests"/*.png | paste -sd, -)
"$python" "$here/local_server.py" --export_dir="$workdir/export" \
    --port="$port" --grpc_port=0 > "$workdir/local_server.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null || true' EXIT
client=("$python" "$here/client.py" --server="localhost:$port")
for _ in $(seq 120); do  # Until the model is loaded and answers.
  "${client[@]}" --signature=log_prob --images="$images" --print_request \
      > /dev/null 2>&1 && break
  kill -0 $server 2> /dev/null || { cat "$workdir/local_server.log"; exit 1; }
  sleep 1
done
echo "== log_prob (served at localhost:$port)"
"${client[@]}" --signature=log_prob --images="$images"
if "${client[@]}" --signature=anomaly --images="$images" --print_request \
    > /dev/null 2>&1; then
  echo "== anomaly"
  "${client[@]}" --signature=anomaly --images="$images"
fi
echo "== sample"
"${client[@]}" --signature=sample --num_samples=4 --temperature=0.7 --seed=1 \
    --output_dir="$workdir/served_samples"
