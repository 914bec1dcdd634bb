// Next.js has no `exports` map, so NodeNext resolution knows only `next/navigation.js`. The
// adapter imports the bare `next/navigation`: Next's bundlers map that name to the variant of
// the module's layer (the react-server one in route handlers), and not the `.js` file path.
declare module "next/navigation" {
  export * from "next/navigation.js";
}
