// Calls the sync API the way existing front ends do: supabase.functions.invoke().
// usage: node invoke.mjs URL KEY [SHOW_ID]   -> prints {"data","error","status"} as JSON
import { createClient } from "@supabase/supabase-js";

const [url, key, showId] = process.argv.slice(2);
const supabase = createClient(url, key, { auth: { persistSession: false } });
const { data, error } = await supabase.functions.invoke("sync-ivs-stream-status", {
  body: showId ? { showId } : {},
});
let status = null;
let body = null;
if (error && error.context && typeof error.context.status === "number") {
  status = error.context.status;
  try {
    body = await error.context.json();
  } catch (e) {
    body = null;
  }
}
console.log(JSON.stringify({ data, error: error ? error.message : null, status, body }));
